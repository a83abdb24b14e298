using Ssm.Domain.Users;

namespace Ssm.Application.Common;

/// <summary>
/// The local accounts a sender reaches: every one (a system administrator, a viewer of all accounts, the node), or
/// only those granted (an account viewer or administrator, an API client of its one account). Decision 0032.
/// </summary>
public sealed class AccountScope
{
    private readonly Dictionary<Guid, AccountAccess> _grants;

    private AccountScope(bool all, IEnumerable<AccountGrant> grants)
    {
        IsAll = all;
        _grants = grants.GroupBy(g => g.AccountId).ToDictionary(g => g.Key, g => g.Max(x => x.Access));
    }

    public static readonly AccountScope All = new(true, []);

    public static AccountScope Only(IEnumerable<AccountGrant> grants) => new(false, grants);

    public bool IsAll { get; }

    /// <summary>The accounts a limited sender reaches; empty for <see cref="All"/>, which reaches every one.</summary>
    public IReadOnlyCollection<Guid> AccountIds => _grants.Keys;

    public bool MayRead(Guid accountId) => IsAll || _grants.ContainsKey(accountId);

    /// <summary>Whether an account administrator may change this account; a sender of <see cref="All"/> still needs the admin role.</summary>
    public bool MayAdminister(Guid accountId) => _grants.TryGetValue(accountId, out var access) && access == AccountAccess.Administrator;

    public override string ToString() => IsAll ? "all accounts" : $"accounts {string.Join(", ", _grants.Keys)}";
}

/// <summary>
/// A message about one local account's data. A sender limited to some accounts may send it only for one of
/// theirs (an admin-level one only for an account they administer); the validation behavior checks it.
/// </summary>
public interface IAccountScoped
{
    Guid? ScopeAccountId { get; }
}

/// <summary>
/// The handler itself narrows the answer to <see cref="ICurrentUser.Accounts"/>: a list over every account (whose
/// <see cref="IAccountScoped.ScopeAccountId"/> may be null) or a lookup by an id whose account only the stored
/// document knows. Each such handler has an attacker test in AccountScopeTests.
/// </summary>
public interface IScopedByHandler;

/// <summary>Carries nothing of any one account (the node's or the cluster's state, the caller's own session).</summary>
public interface INoAccountData;

/// <summary>May be sent by a user who must first choose a new password (after an administrator's reset).</summary>
public interface IBeforePasswordChange;
