using System.Security.Claims;
using Ssm.Application.Common;

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

    public static ClaimsPrincipal For(string name, string role) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, role)], "ssm"));

    /// <summary>The node itself, as its jobs and start-up send (decision 0017).</summary>
    public static ClaimsPrincipal Node => NodeNamed("node");

    /// <summary>The operator at the node's console is trusted as the node itself, as on the appliance.</summary>
    public static ClaimsPrincipal Console => NodeNamed("console");

    private static ClaimsPrincipal NodeNamed(string name) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, NodeRole), new Claim(ClaimTypes.Role, AdminRole)], "ssm"));
}
