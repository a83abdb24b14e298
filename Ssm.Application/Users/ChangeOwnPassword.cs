using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>The signed-in user replaces their password, proving the current one; this also ends a forced change.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ChangeOwnPassword(string CurrentPassword, string NewPassword) : ICommand, IAudited, INoAccountData, IBeforePasswordChange
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => "own password";
    public override string ToString() => "ChangeOwnPassword";
}

public sealed class ChangeOwnPasswordValidator : AbstractValidator<ChangeOwnPassword>
{
    public ChangeOwnPasswordValidator()
    {
        RuleFor(x => x.CurrentPassword).NotEmpty().MaximumLength(UserRules.PasswordMaxLength);
        // The handler, which knows the sender, checks the password is not the user name.
        this.AddPasswordRules(x => x.NewPassword, null, "NewPassword");
        RuleFor(x => x.NewPassword).NotEqual(x => x.CurrentPassword).WithMessage("Choose a password other than the current one.");
    }
}

public sealed class ChangeOwnPasswordHandler(IDocumentSession session, IPasswordHasher hasher, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<ChangeOwnPassword>
{
    public async ValueTask<Unit> Handle(ChangeOwnPassword command, CancellationToken cancellationToken)
    {
        if (PasswordPolicy.IsUserName(command.NewPassword, user.Name))
            throw new ValidationException([new FluentValidation.Results.ValidationFailure(nameof(command.NewPassword), PasswordPolicy.NotTheUserName)]);
        var self = await session.LoadAsync<UserAccount>(UserAccount.KeyOf(user.Name), cancellationToken);
        if (self is null || !hasher.Verify(self.PasswordHash, command.CurrentPassword))
            throw new ForbiddenException("The current password is wrong.");
        self.ChangeOwnPassword(hasher.Hash(command.NewPassword));
        session.Store(self);
        session.RecordSuccess(command, user, clock);
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return Unit.Value;
    }
}
