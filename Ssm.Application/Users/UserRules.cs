using System.Text.RegularExpressions;
using Ssm.Domain.Accounts;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

public static partial class UserRules
{
    public const int PasswordMinLength = 12;
    public const int PasswordMaxLength = 128;

    public static bool IsValidUserName(string? name) => name is not null && UserNamePattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9._-]{1,32}$")]
    private static partial Regex UserNamePattern();
}

/// <summary>What the user administration commands check alike.</summary>
public static class UserAdministration
{
    public static async Task<UserAccount> LoadAsync(IQuerySession session, string userName, CancellationToken cancellationToken) =>
        await session.LoadAsync<UserAccount>(UserAccount.KeyOf(userName), cancellationToken)
        ?? throw new NotFoundException($"No user '{userName}'.");

    /// <summary>Every granted account exists: a grant of an unknown id would reach nothing today and mislead.</summary>
    public static async Task EnsureAccountsExistAsync(IQuerySession session, IEnumerable<AccountGrant> grants, CancellationToken cancellationToken)
    {
        var ids = grants.Select(g => g.AccountId).Distinct().ToArray();
        if (ids.Length == 0)
            return;
        var known = await session.Query<LocalAccount>().Where(a => ids.Contains(a.Id)).Select(a => a.Id).ToListAsync(cancellationToken);
        var missing = ids.Except(known).ToList();
        if (missing.Count > 0)
            throw new NotFoundException($"No local account with id {string.Join(", ", missing)}.");
    }

    /// <summary>The node keeps at least one enabled system administrator: nobody could manage users otherwise.</summary>
    public static async Task EnsureAnotherAdminRemainsAsync(IQuerySession session, UserAccount user, CancellationToken cancellationToken)
    {
        if (user.Role != UserRole.Admin || user.Disabled)
            return;
        var others = await session.Query<UserAccount>().CountAsync(u => u.Role == UserRole.Admin && !u.Disabled && u.Id != user.Id, cancellationToken);
        if (others == 0)
            throw new ConflictException($"'{user.Id}' is the last enabled system administrator; make another one first.");
    }

    public static string Describe(UserRole role, IEnumerable<AccountGrant> grants) => role switch
    {
        UserRole.Admin => "system administrator",
        UserRole.Viewer => "viewer of all accounts",
        _ => string.Join(", ", grants.Select(g => $"account {(g.Access == AccountAccess.Administrator ? "administrator" : "viewer")} of {g.AccountId}")),
    };

    /// <summary>The rules of a role and its grants, shared by creating a user and setting their roles.</summary>
    public static void AddRoleRules<T>(this AbstractValidator<T> validator, Func<T, UserRole> role, Func<T, IReadOnlyList<AccountGrant>?> grants)
    {
        validator.RuleFor(x => role(x)).IsInEnum().WithMessage("Role is Admin, Viewer or Accounts.").OverridePropertyName("Role");
        validator.RuleFor(x => x).Must(x => role(x) != UserRole.Accounts || grants(x) is { Count: > 0 })
            .WithMessage("Choose at least one account for a user limited to accounts.").OverridePropertyName("Grants");
        validator.RuleFor(x => grants(x))
            .Must(g => g is null || g.All(x => x is not null && x.AccountId != Guid.Empty && Enum.IsDefined(x.Access)))
            .WithMessage("Each grant names an account and its access: Viewer or Administrator.").OverridePropertyName("Grants");
    }
}
