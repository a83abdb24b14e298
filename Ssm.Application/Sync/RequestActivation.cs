using Microsoft.Extensions.Options;
using Ssm.Application.Accounts;
using Ssm.Application.Ha;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Sync;

/// <summary>Asks CSC to activate a local account, with the operator's CSC login (used once, not stored).</summary>
[Sender(SenderRole.Admin)]
public sealed record RequestActivation(Guid AccountId, CscCredentials Credentials) : ICommand<AccountDto>, IAudited, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
    public EventCategory Category => EventCategory.Sync;
    public string Subject => AccountId.ToString();
}

public sealed class RequestActivationValidator : AbstractValidator<RequestActivation>
{
    public RequestActivationValidator()
    {
        RuleFor(x => x.AccountId).NotEmpty();
        RuleFor(x => x.Credentials).NotNull().SetValidator(new CscCredentialsValidator());
    }
}

public sealed class CscCredentialsValidator : AbstractValidator<CscCredentials>
{
    public CscCredentialsValidator()
    {
        RuleFor(x => x.User).NotEmpty().WithMessage("CSC user is required.").MaximumLength(128);
        RuleFor(x => x.Password).NotEmpty().WithMessage("CSC password is required.").MaximumLength(256);
    }
}

public sealed class RequestActivationHandler(IDocumentSession session, ICscClient csc, ICurrentUser user, IClock clock,
    IOptions<NodeOptions> node, ChangeNotifier notifier) : ICommandHandler<RequestActivation, AccountDto>
{
    public async ValueTask<AccountDto> Handle(RequestActivation command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.AccountId, cancellationToken)
            ?? throw new NotFoundException($"Account {command.AccountId} does not exist.");
        if (account.Status == AccountStatus.Active)
            throw new ConflictException($"Account '{account.Name}' is already active with CSC.");
        if (!csc.Configured)
            throw new ConflictException("No CSC address is configured (Csc:Url): this node cannot reach Cisco Software Central.");

        ActivationReply reply;
        try
        {
            reply = await csc.RequestActivationAsync(command.Credentials,
                new ActivationRequest(account.Id, account.Name, account.ContactEmail, node.Value.Name), cancellationToken);
        }
        catch (CscRefusedException refused) when (refused.Code == CscRefusedException.AccountRejected)
        {
            // CSC rejected this account before: it stays rejected, with CSC's reason.
            reply = new ActivationReply(account.ActivationRequestId ?? "", ActivationStatus.Rejected, null, null, null, refused.Reason);
        }
        var now = clock.UtcNow;
        account.MarkRequested(reply.RequestId, now);
        switch (reply.Status)
        {
            case ActivationStatus.Approved:
                account.Activate(reply.AccountId!, reply.AccessToken!, reply.ExpiresAt!.Value, now);
                break;
            case ActivationStatus.Rejected:
                account.Reject(reply.Reason ?? "rejected by CSC", now);
                break;
        }
        session.Store(account);
        session.RecordSuccess(command, user, clock, $"{account.Name}: {account.Status}{(account.RejectionReason is { } r ? $" ({r})" : "")}");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return AccountDto.From(account, now);
    }
}
