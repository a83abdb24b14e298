using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Accounts;

/// <summary>Deletes an account; the caller confirms by repeating its name, so a stale id cannot delete the wrong one.</summary>
[Sender(SenderRole.Admin)]
public sealed record DeleteAccount(Guid Id, string ConfirmName) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Accounts;
    public string Subject => ConfirmName;
}

public sealed class DeleteAccountValidator : AbstractValidator<DeleteAccount>
{
    public DeleteAccountValidator()
    {
        RuleFor(x => x.Id).NotEmpty();
        RuleFor(x => x.ConfirmName).NotEmpty().WithMessage("Type the account's name to confirm the deletion.")
            .MaximumLength(AccountRules.NameMaxLength);
    }
}

public sealed class DeleteAccountHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<DeleteAccount>
{
    public async ValueTask<Unit> Handle(DeleteAccount command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No account with id {command.Id}.");
        if (!string.Equals(account.Name, command.ConfirmName, StringComparison.Ordinal))
            throw new ConflictException($"The confirmation '{command.ConfirmName}' does not match the account's name '{account.Name}'.");

        session.Delete(account);
        session.DeleteWhere<VirtualAccount>(v => v.AccountId == account.Id);
        // Grants go with the account: users limited to it keep their other accounts, or reach none.
        foreach (var granted in await session.Query<Domain.Users.UserAccount>().Where(u => u.Grants.Any(g => g.AccountId == account.Id)).ToListAsync(cancellationToken))
        {
            granted.ForgetAccount(account.Id);
            session.Store(granted);
        }
        session.RecordSuccess(command, user, clock);
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return Unit.Value;
    }
}
