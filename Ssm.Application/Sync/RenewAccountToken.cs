using Ssm.Application.Accounts;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Sync;

/// <summary>Re-authenticates an active account with CSC (its access token expired, or is about to).</summary>
[Sender(SenderRole.Admin)]
public sealed record RenewAccountToken(Guid AccountId, CscCredentials Credentials) : ICommand<AccountDto>, IAudited
{
    public EventCategory Category => EventCategory.Sync;
    public string Subject => AccountId.ToString();
}

public sealed class RenewAccountTokenValidator : AbstractValidator<RenewAccountToken>
{
    public RenewAccountTokenValidator()
    {
        RuleFor(x => x.AccountId).NotEmpty();
        RuleFor(x => x.Credentials).NotNull().SetValidator(new CscCredentialsValidator());
    }
}

public sealed class RenewAccountTokenHandler(IDocumentSession session, ICscClient csc, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<RenewAccountToken, AccountDto>
{
    public async ValueTask<AccountDto> Handle(RenewAccountToken command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.AccountId, cancellationToken)
            ?? throw new NotFoundException($"Account {command.AccountId} does not exist.");
        if (account.Status != AccountStatus.Active)
            throw new ConflictException($"Account '{account.Name}' is {account.Status}: only an active account has a token to renew.");
        var reply = await csc.RenewTokenAsync(command.Credentials, account.CscAccountId!, cancellationToken);
        account.RenewToken(reply.AccessToken, reply.ExpiresAt, clock.UtcNow);
        session.Store(account);
        session.RecordSuccess(command, user, clock, $"{account.Name}: token valid until {reply.ExpiresAt:u}");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return AccountDto.From(account, clock.UtcNow);
    }
}
