using System.Security.Claims;
using Ssm.Application.Common;
using Ssm.Domain.Users;

namespace Ssm.Web.Security;

/// <summary>
/// The sender of the message in this scope: set explicitly by the dashboard's sender, the console and the node's
/// jobs, otherwise read from the HTTP request.
/// </summary>
public sealed class CurrentUser(IHttpContextAccessor http) : ICurrentUser
{
    public const string AdminRole = "admin";
    public const string ViewerRole = "viewer";
    public const string NodeRole = "node";
    /// <summary>A user of the local accounts named by their <see cref="GrantClaim"/>s only.</summary>
    public const string AccountsRole = "accounts";
    /// <summary>"{account id}:administrator" or "{account id}:viewer".</summary>
    public const string GrantClaim = "ssm:grant";
    public const string MustChangePasswordClaim = "ssm:must_change_password";

    public ClaimsPrincipal? Principal { get; set; }

    private ClaimsPrincipal? Effective => Principal ?? http.HttpContext?.User;

    public string Name => Effective?.Identity is { IsAuthenticated: true, Name: { } name } ? name : "anonymous";
    public bool IsAuthenticated => Effective?.Identity?.IsAuthenticated == true;
    public bool IsAdmin => IsAuthenticated && Effective!.IsInRole(AdminRole);

    // Only a principal set in code can be the node, never one read from the request; no login issues the role either.
    public bool IsNode => Principal?.Identity?.IsAuthenticated == true && Principal.IsInRole(NodeRole);

    // Only the API token scheme issues this claim: a dashboard principal comes from a server-side session.
    public string? ApiClientId => IsAuthenticated && Effective!.Identity!.AuthenticationType == ApiTokenAuthentication.Scheme
        ? Effective.FindFirstValue(ApiTokenAuthentication.ClientIdClaim) : null;

    /// <summary>
    /// Fails closed: every account only for the node, a system administrator or a viewer of all accounts; an API
    /// client reaches its own account; anyone else exactly the accounts of their grant claims, which may be none.
    /// </summary>
    public AccountScope Accounts
    {
        get
        {
            if (IsNode)
                return AccountScope.All;
            if (!IsAuthenticated)
                return AccountScope.Only([]);
            var principal = Effective!;
            if (principal.Identity!.AuthenticationType == ApiTokenAuthentication.Scheme)
                return AccountScope.Only([new AccountGrant(ApiTokenAuthentication.CallerOf(principal).AccountId, AccountAccess.Viewer)]);
            if (principal.IsInRole(AdminRole) || principal.IsInRole(ViewerRole))
                return AccountScope.All;
            return AccountScope.Only(principal.FindAll(GrantClaim).Select(c => GrantOf(c.Value)).OfType<AccountGrant>());
        }
    }

    public bool MustChangePassword => IsAuthenticated && Effective!.HasClaim(MustChangePasswordClaim, "true");

    /// <summary>For pages offering an account administrator's controls: the messages decide, this only shows them.</summary>
    public static bool Administers(ClaimsPrincipal user, Guid accountId) =>
        user.HasClaim(GrantClaim, ClaimOf(new AccountGrant(accountId, AccountAccess.Administrator)));

    public static string ClaimOf(AccountGrant grant) => $"{grant.AccountId}:{grant.Access.ToString().ToLowerInvariant()}";

    private static AccountGrant? GrantOf(string claim) =>
        claim.Split(':') is [var id, var access] && Guid.TryParse(id, out var accountId) && Enum.TryParse<AccountAccess>(access, ignoreCase: true, out var level)
            && Enum.IsDefined(level)
            ? new AccountGrant(accountId, level) : null;

    public static ClaimsPrincipal For(string name, string role) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, role)], "ssm"));

    /// <summary>The node itself, as its jobs and start-up send (decision 0017).</summary>
    public static ClaimsPrincipal Node => NodeNamed("node");

    /// <summary>The operator at the node's console is trusted as the node itself, as on the appliance.</summary>
    public static ClaimsPrincipal Console => NodeNamed("console");

    private static ClaimsPrincipal NodeNamed(string name) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, NodeRole), new Claim(ClaimTypes.Role, AdminRole)], "ssm"));
}
