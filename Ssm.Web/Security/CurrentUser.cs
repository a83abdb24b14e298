using System.Security.Claims;
using Ssm.Application.Common;

namespace Ssm.Web.Security;

/// <summary>
/// The sender of the message in this scope: set explicitly by the dashboard's sender and the console,
/// otherwise read from the HTTP request.
/// </summary>
public sealed class CurrentUser(IHttpContextAccessor http) : ICurrentUser
{
    public const string AdminRole = "admin";
    public const string ViewerRole = "viewer";

    public ClaimsPrincipal? Principal { get; set; }

    private ClaimsPrincipal? Effective => Principal ?? http.HttpContext?.User;

    public string Name => Effective?.Identity is { IsAuthenticated: true, Name: { } name } ? name : "anonymous";
    public bool IsAuthenticated => Effective?.Identity?.IsAuthenticated == true;
    public bool IsAdmin => IsAuthenticated && Effective!.IsInRole(AdminRole);

    public static ClaimsPrincipal For(string name, string role) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, role)], "ssm"));

    /// <summary>The operator at the node's console is trusted as an admin, as on the appliance.</summary>
    public static ClaimsPrincipal Console => For("console", AdminRole);
}
