using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.Extensions.Caching.Memory;
using Ssm.Application.Users;

namespace Ssm.Web.Security;

/// <summary>
/// The login cookie names a server-side session (<see cref="Ssm.Domain.Users.UserSession"/>). Every request
/// checks it, and the user's current role, grants and security stamp, against the database through a one-second
/// cache: logout, a deleted user or a demotion take effect within seconds, on every copy of the cookie.
/// </summary>
public static class SessionCookie
{
    public const string SessionIdClaim = "ssm:sid";
    public const string StampClaim = "ssm:stamp";

    public static ClaimsPrincipal PrincipalOf(SessionState state, string sessionId) => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.Name, state.UserName),
        new Claim(ClaimTypes.Role, AuthEndpoints.RoleName(state.Role)),
        new Claim(SessionIdClaim, sessionId),
        new Claim(StampClaim, state.SecurityStamp),
        .. state.Grants.Select(g => new Claim(CurrentUser.GrantClaim, CurrentUser.ClaimOf(g))),
        .. state.MustChangePassword ? [new Claim(CurrentUser.MustChangePasswordClaim, "true")] : Array.Empty<Claim>(),
    ], "ssm"));

    public static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal!;
        var sessionId = principal.FindFirstValue(SessionIdClaim);
        var sessions = context.HttpContext.RequestServices.GetRequiredService<SessionCache>();
        var state = sessionId is null ? null : await sessions.CheckAsync(sessionId, context.HttpContext.RequestAborted);
        if (state is null)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return;
        }
        if (state.SecurityStamp != principal.FindFirstValue(StampClaim) || AuthEndpoints.RoleName(state.Role) != principal.FindFirstValue(ClaimTypes.Role))
        {
            // The password, the role or the grants changed: the session goes on with what the user has now.
            context.ReplacePrincipal(PrincipalOf(state, sessionId!));
            context.ShouldRenew = true;
        }
    }
}

/// <summary>Session checks, each answer kept for a second so a page's many requests cost one query.</summary>
public sealed class SessionCache(IServiceScopeFactory scopes, IMemoryCache cache)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(1);

    public async Task<SessionState?> CheckAsync(string sessionId, CancellationToken cancellationToken)
    {
        var key = (nameof(SessionCache), sessionId);
        if (cache.TryGetValue(key, out SessionState? known))
            return known;
        await using var scope = scopes.CreateAsyncScope();
        // The node checks the session, before anyone is signed in on this request.
        scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = CurrentUser.Node;
        var state = await scope.ServiceProvider.GetRequiredService<ISender>().Send(new CheckSession(sessionId), cancellationToken);
        cache.Set(key, state, Lifetime);
        return state;
    }

    public void Forget(string sessionId) => cache.Remove((nameof(SessionCache), sessionId));
}

/// <summary>An open dashboard (a Blazor circuit) re-checks its session every two seconds; a refused one signs out.</summary>
public sealed class SessionRevalidator(ILoggerFactory loggers, SessionCache sessions) : RevalidatingServerAuthenticationStateProvider(loggers)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromSeconds(2);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState state, CancellationToken cancellationToken)
    {
        var user = state.User;
        if (user.Identity?.IsAuthenticated != true)
            return true;
        var current = user.FindFirstValue(SessionCookie.SessionIdClaim) is { } sessionId ? await sessions.CheckAsync(sessionId, cancellationToken) : null;
        // A changed role, grant or password ends the circuit's sign-in; the next request reads them anew.
        return current is not null && current.SecurityStamp == user.FindFirstValue(SessionCookie.StampClaim);
    }
}
