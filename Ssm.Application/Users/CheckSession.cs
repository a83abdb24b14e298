using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

public sealed record SessionState(string UserName, UserRole Role, string SecurityStamp);

/// <summary>The session's user and current role, or null when the session ended, expired or its user is gone.</summary>
[Sender(SenderRole.Internal)]
public sealed record CheckSession(string SessionId) : IQuery<SessionState?>
{
    public override string ToString() => "CheckSession";
}

public sealed class CheckSessionHandler(IQuerySession session, IClock clock) : IQueryHandler<CheckSession, SessionState?>
{
    public async ValueTask<SessionState?> Handle(CheckSession query, CancellationToken cancellationToken)
    {
        var signedIn = await session.LoadAsync<UserSession>(query.SessionId, cancellationToken);
        if (signedIn is null || signedIn.IsExpired(clock.UtcNow))
            return null;
        var user = await session.LoadAsync<UserAccount>(signedIn.UserName, cancellationToken);
        return user is null ? null : new SessionState(user.Id, user.Role, user.SecurityStamp);
    }
}
