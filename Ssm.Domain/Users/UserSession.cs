using System.Security.Cryptography;

namespace Ssm.Domain.Users;

/// <summary>
/// One signed-in browser or script, kept in the database so logout ends it for every copy of its cookie and
/// a failover keeps it. The cookie carries only its id; the role is re-read from the user on every check.
/// </summary>
public sealed class UserSession
{
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(12);

    public string Id { get; set; } = "";
    public string UserName { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }

    public static UserSession Start(string userName, DateTimeOffset now) => new()
    {
        Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)),
        UserName = userName,
        StartedAt = now,
        ExpiresAt = now + MaxLifetime,
    };

    public bool IsExpired(DateTimeOffset now) => ExpiresAt <= now;
}
