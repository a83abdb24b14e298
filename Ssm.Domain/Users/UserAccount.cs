namespace Ssm.Domain.Users;

public enum UserRole
{
    Admin,
    Viewer,
}

/// <summary>A person who may log into the dashboard. The id is the lower-case user name.</summary>
public sealed class UserAccount
{
    public const int MaxFailedAttempts = 5;
    public static readonly TimeSpan LockoutDuration = TimeSpan.FromMinutes(5);

    public string Id { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public UserRole Role { get; set; }
    public int FailedAttempts { get; set; }
    public DateTimeOffset? LockedOutUntil { get; set; }

    public static string KeyOf(string userName) => userName.Trim().ToLowerInvariant();

    public bool IsLockedOut(DateTimeOffset now) => LockedOutUntil is { } until && until > now;

    public void RecordFailedLogin(DateTimeOffset now)
    {
        FailedAttempts++;
        if (FailedAttempts >= MaxFailedAttempts)
        {
            LockedOutUntil = now + LockoutDuration;
            FailedAttempts = 0;
        }
    }

    public void RecordSuccessfulLogin()
    {
        FailedAttempts = 0;
        LockedOutUntil = null;
    }

    public void SetPassword(string passwordHash, UserRole role)
    {
        PasswordHash = passwordHash;
        Role = role;
        RecordSuccessfulLogin();
    }
}
