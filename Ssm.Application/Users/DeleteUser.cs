using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>Deletes a user and their sessions.</summary>
[Sender(SenderRole.Admin)]
public sealed record DeleteUser(string UserName) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => UserName;
}

public sealed class DeleteUserHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier) : ICommandHandler<DeleteUser>
{
    public async ValueTask<Unit> Handle(DeleteUser command, CancellationToken cancellationToken)
    {
        var target = await UserAdministration.LoadAsync(session, command.UserName, cancellationToken);
        await UserAdministration.EnsureAnotherAdminRemainsAsync(session, target, cancellationToken);
        session.Delete(target);
        session.DeleteWhere<UserSession>(s => s.UserName == target.Id);
        session.RecordSuccess(command, user, clock, $"was {UserAdministration.Describe(target.Role, target.Grants)}");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return Unit.Value;
    }
}
