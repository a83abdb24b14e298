using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>A signed-in user as the node sees them now: role, grants, and whether they must first choose a password.</summary>
public sealed record SessionState(string UserName, UserRole Role, string SecurityStamp, IReadOnlyList<AccountGrant> Grants, bool MustChangePassword)
{
    public static SessionState Of(UserAccount user) => new(user.Id, user.Role, user.SecurityStamp, user.Grants, user.MustChangePassword);
}

/// <summary>The session's user and current role, or null when the session ended, expired, or its user is gone or disabled.</summary>
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
        return user is null || user.Disabled ? null : SessionState.Of(user);
    }
}
