using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>Creates the user, or sets a new password and role for an existing one.</summary>
[Sender(SenderRole.Admin)]
public sealed record SetUserPassword(string UserName, string Password, UserRole Role = UserRole.Admin) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => UserName;
    public override string ToString() => $"SetUserPassword {{ UserName = {UserName}, Role = {Role} }}";
}

public sealed class SetUserPasswordValidator : AbstractValidator<SetUserPassword>
{
    public SetUserPasswordValidator()
    {
        RuleFor(x => x.UserName).Must(UserRules.IsValidUserName)
            .WithMessage("User name must be 1–32 letters, digits, dots, dashes or underscores.");
        this.AddPasswordRules(x => x.Password, x => x.UserName);
        // Account grants are set on the Access Management page or /api/users, which name the accounts.
        RuleFor(x => x.Role).IsInEnum().NotEqual(UserRole.Accounts).WithMessage("Role is admin or viewer here.");
    }
}

public sealed class SetUserPasswordHandler(IDocumentSession session, IPasswordHasher hasher, ICurrentUser user, IClock clock)
    : ICommandHandler<SetUserPassword>
{
    public async ValueTask<Unit> Handle(SetUserPassword command, CancellationToken cancellationToken)
    {
        var id = UserAccount.KeyOf(command.UserName);
        var account = await session.LoadAsync<UserAccount>(id, cancellationToken) ?? new UserAccount { Id = id };
        account.SetPassword(hasher.Hash(command.Password), command.Role);
        session.Store(account);
        session.RecordSuccess(command, user, clock, $"role {command.Role}");
        await session.SaveChangesAsync(cancellationToken);
        return Unit.Value;
    }
}
