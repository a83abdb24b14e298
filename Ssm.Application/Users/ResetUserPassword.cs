using Ssm.Domain.Events;

namespace Ssm.Application.Users;

/// <summary>An administrator sets a temporary password; the user may do nothing but choose their own at next login.</summary>
[Sender(SenderRole.Admin)]
public sealed record ResetUserPassword(string UserName, string Password) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => UserName;
    public override string ToString() => $"ResetUserPassword {{ UserName = {UserName} }}";
}

public sealed class ResetUserPasswordValidator : AbstractValidator<ResetUserPassword>
{
    public ResetUserPasswordValidator() => this.AddPasswordRules(x => x.Password, x => x.UserName);
}

public sealed class ResetUserPasswordHandler(IDocumentSession session, IPasswordHasher hasher, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<ResetUserPassword>
{
    public async ValueTask<Unit> Handle(ResetUserPassword command, CancellationToken cancellationToken)
    {
        var target = await UserAdministration.LoadAsync(session, command.UserName, cancellationToken);
        target.ResetPassword(hasher.Hash(command.Password));
        session.Store(target);
        session.RecordSuccess(command, user, clock, "must choose a new password at next login");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return Unit.Value;
    }
}
