using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Api;

/// <summary>Revoking refuses new tokens at once and the client's tokens already issued on their next call.</summary>
[Sender(SenderRole.Admin)]
public sealed record RevokeApiClient(Guid Id) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => Id.ToString();
}

public sealed class RevokeApiClientValidator : AbstractValidator<RevokeApiClient>
{
    public RevokeApiClientValidator() => RuleFor(x => x.Id).NotEmpty();
}

public sealed class RevokeApiClientHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<RevokeApiClient>
{
    public async ValueTask<Unit> Handle(RevokeApiClient command, CancellationToken cancellationToken)
    {
        var client = await session.LoadAsync<ApiClient>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No API client with id {command.Id}.");
        client.Revoke(user.Name, clock.UtcNow);
        session.Store(client);
        session.RecordSuccess(command, user, clock, $"API client '{client.Name}' ({client.ClientId}) revoked.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return Unit.Value;
    }
}
