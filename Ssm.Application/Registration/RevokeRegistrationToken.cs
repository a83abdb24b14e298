using Ssm.Domain.Events;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

/// <summary>Revoking stops new registrations with the token; products it registered keep working.</summary>
[Sender(SenderRole.Admin)]
public sealed record RevokeRegistrationToken(Guid Id) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Registration;
    public string Subject => Id.ToString();
}

public sealed class RevokeRegistrationTokenValidator : AbstractValidator<RevokeRegistrationToken>
{
    public RevokeRegistrationTokenValidator() => RuleFor(x => x.Id).NotEmpty();
}

public sealed class RevokeRegistrationTokenHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<RevokeRegistrationToken>
{
    public async ValueTask<Unit> Handle(RevokeRegistrationToken command, CancellationToken cancellationToken)
    {
        var token = await session.LoadAsync<RegistrationToken>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No registration token with id {command.Id}.");
        token.Revoke(user.Name, clock.UtcNow);
        session.Store(token);
        session.RecordSuccess(command, user, clock, $"Token {token.Prefix}… revoked.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Registration);
        return Unit.Value;
    }
}
