namespace Ssm.Domain.Users;

/// <summary>
/// What a user may see and do. <see cref="Admin"/> is the system administrator; <see cref="Viewer"/> reads every
/// account; <see cref="Accounts"/> reaches only the local accounts of the user's <see cref="AccountGrant"/>s.
/// </summary>
public enum UserRole
{
    Admin,
    Viewer,
    Accounts,
}

/// <summary>On one local account: read it, or also change it (tokens, virtual accounts, its description).</summary>
public enum AccountAccess
{
    Viewer,
    Administrator,
}

public sealed record AccountGrant(Guid AccountId, AccountAccess Access);

/// <summary>A person who may log into the dashboard. The id is the lower-case user name.</summary>
public sealed class UserAccount
{
    public string Id { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public UserRole Role { get; set; }

    /// <summary>The accounts an <see cref="UserRole.Accounts"/> user reaches; empty for the other roles.</summary>
    public List<AccountGrant> Grants { get; set; } = [];

    public bool Disabled { get; set; }

    /// <summary>Set when an administrator reset the password: the user may do nothing but choose a new one.</summary>
    public bool MustChangePassword { get; set; }

    /// <summary>Changes whenever the password, the role, the grants or the state do: signed-in sessions compare it and re-read them.</summary>
    public string SecurityStamp { get; set; } = "";

    public static string KeyOf(string userName) => userName.Trim().ToLowerInvariant();

    public void SetPassword(string passwordHash, UserRole role)
    {
        PasswordHash = passwordHash;
        SetRoles(role, []);
        MustChangePassword = false;
    }

    /// <summary>An administrator's reset: the user signs in with it once and must then choose their own.</summary>
    public void ResetPassword(string passwordHash)
    {
        PasswordHash = passwordHash;
        MustChangePassword = true;
        Restamp();
    }

    public void ChangeOwnPassword(string passwordHash)
    {
        PasswordHash = passwordHash;
        MustChangePassword = false;
        Restamp();
    }

    public void SetRoles(UserRole role, IEnumerable<AccountGrant> grants)
    {
        var kept = role == UserRole.Accounts
            // One grant per account, the stronger one when both were given.
            ? grants.GroupBy(g => g.AccountId).Select(g => g.MaxBy(x => x.Access)!).OrderBy(g => g.AccountId).ToList()
            : [];
        if (role == UserRole.Accounts && kept.Count == 0)
            throw new DomainException("A user limited to accounts needs at least one account.");
        Role = role;
        Grants = kept;
        Restamp();
    }

    public void SetDisabled(bool disabled)
    {
        Disabled = disabled;
        Restamp();
    }

    /// <summary>An account deleted: its grants go, so a later account cannot inherit them.</summary>
    public bool ForgetAccount(Guid accountId)
    {
        if (Grants.RemoveAll(g => g.AccountId == accountId) == 0)
            return false;
        Restamp();
        return true;
    }

    private void Restamp() => SecurityStamp = Guid.NewGuid().ToString("N");
}
