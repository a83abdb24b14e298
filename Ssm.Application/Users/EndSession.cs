using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>Logout: the session is deleted, so every copy of its cookie is refused from now on.</summary>
[Sender(SenderRole.Viewer)]
public sealed record EndSession(string SessionId, string UserName) : ICommand, IAudited, INoAccountData, IBeforePasswordChange
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => UserName;
    public override string ToString() => $"EndSession {{ UserName = {UserName} }}";
}

public sealed class EndSessionHandler(IDocumentSession session, ICurrentUser user, IClock clock) : ICommandHandler<EndSession>
{
    public async ValueTask<Unit> Handle(EndSession command, CancellationToken cancellationToken)
    {
        session.Delete<UserSession>(command.SessionId);
        session.RecordSuccess(command, user, clock, "signed out");
        await session.SaveChangesAsync(cancellationToken);
        return Unit.Value;
    }
}
