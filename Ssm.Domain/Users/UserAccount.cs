namespace Ssm.Domain.Users;

public enum UserRole
{
    Admin,
    Viewer,
}

/// <summary>A person who may log into the dashboard. The id is the lower-case user name.</summary>
public sealed class UserAccount
{
    public string Id { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public UserRole Role { get; set; }

    /// <summary>Changes whenever the password or the role does: signed-in sessions compare it and re-read the role.</summary>
    public string SecurityStamp { get; set; } = "";

    public static string KeyOf(string userName) => userName.Trim().ToLowerInvariant();

    public void SetPassword(string passwordHash, UserRole role)
    {
        PasswordHash = passwordHash;
        Role = role;
        SecurityStamp = Guid.NewGuid().ToString("N");
    }
}
