using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Api;

public sealed record ApiClientDto(Guid Id, Guid AccountId, string Name, string ClientId, DateTimeOffset CreatedAt, string CreatedBy,
    DateTimeOffset? RevokedAt, string? RevokedBy)
{
    public bool Revoked => RevokedAt is not null;

    public static ApiClientDto From(ApiClient c) => new(c.Id, c.AccountId, c.Name, c.ClientId, c.CreatedAt, c.CreatedBy, c.RevokedAt, c.RevokedBy);
}

/// <summary>The secret is in this answer and nowhere else: only its hash is stored.</summary>
public sealed record CreatedApiClient(ApiClientDto Client, string Secret);

[Sender(SenderRole.Admin)]
public sealed record CreateApiClient(Guid AccountId, string Name) : ICommand<CreatedApiClient>, IAudited, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
    public EventCategory Category => EventCategory.Security;
    public string Subject => Name;
}

public sealed class CreateApiClientValidator : AbstractValidator<CreateApiClient>
{
    public CreateApiClientValidator()
    {
        RuleFor(x => x.AccountId).NotEmpty().WithMessage("Choose the account the client may read.");
        RuleFor(x => x.Name).Cascade(CascadeMode.Stop).NotEmpty().WithMessage("Name the client, e.g. the monitoring tool using it.")
            .Must(n => n.Trim().Length is > 0 and <= ApiClient.NameMaxLength)
            .WithMessage($"Name is 1 to {ApiClient.NameMaxLength} characters.");
    }
}

public sealed class CreateApiClientHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<CreateApiClient, CreatedApiClient>
{
    public async ValueTask<CreatedApiClient> Handle(CreateApiClient command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.AccountId, cancellationToken)
            ?? throw new NotFoundException($"No account with id {command.AccountId}.");
        var (client, secret) = ApiClient.Create(account.Id, command.Name, user.Name, clock.UtcNow);
        session.Store(client);
        session.RecordSuccess(command, user, clock, $"API client {client.ClientId} for account {account.Name}.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return new CreatedApiClient(ApiClientDto.From(client), secret);
    }
}
