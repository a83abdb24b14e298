using System.Globalization;
using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Ssm.Application.Users;
using Ssm.Domain.Users;

namespace Ssm.Web.Security;

public static class AuthEndpoints
{
    public static IEndpointRouteBuilder MapAuthEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/account");
        group.MapPost("/login", LoginForm).AllowAnonymous();
        group.MapPost("/logout", (Delegate)Logout).WithMetadata(new RequireAntiforgeryTokenAttribute());
        // For scripts and monitoring tools: the same check, JSON in and out, sets the same cookie.
        app.MapPost("/api/session", LoginJson).AllowAnonymous();
        app.MapGet("/api/session", (HttpContext http) => TypedResults.Ok(new SessionInfo(http.User.Identity!.Name!, http.User.FindFirstValue(ClaimTypes.Role)!)));
        app.MapDelete("/api/session", async (HttpContext http, ISender sender, SessionCache sessions) =>
        {
            await EndAsync(http, sender, sessions);
            return TypedResults.NoContent();
        });
        return app;
    }

    public sealed record Credentials(string UserName, string Password);

    /// <summary>Who the cookie signs in, with the role as the node sees it now.</summary>
    public sealed record SessionInfo(string UserName, string Role);

    private abstract record Attempt
    {
        public sealed record SignedIn : Attempt;
        public sealed record Refused : Attempt;
        public sealed record Throttled(TimeSpan RetryAfter) : Attempt;
    }

    private static async Task<IResult> LoginForm(HttpContext http, ISender sender, LoginThrottle throttle,
        [FromForm] string? userName, [FromForm] string? password, [FromForm] string? returnUrl)
    {
        var attempt = await SignIn(http, sender, throttle, userName ?? "", password ?? "");
        return attempt switch
        {
            Attempt.SignedIn => TypedResults.LocalRedirect(IsLocal(returnUrl) ? returnUrl! : "/"),
            Attempt.Throttled throttled => TooManyAttempts(http, throttled),
            _ => TypedResults.LocalRedirect($"/login?error=credentials&returnUrl={Uri.EscapeDataString(IsLocal(returnUrl) ? returnUrl! : "/")}"),
        };
    }

    private static async Task<IResult> LoginJson(HttpContext http, ISender sender, LoginThrottle throttle, Credentials credentials)
    {
        var attempt = await SignIn(http, sender, throttle, credentials.UserName ?? "", credentials.Password ?? "");
        return attempt switch
        {
            Attempt.SignedIn => TypedResults.Ok(new SessionInfo(http.User.Identity!.Name!, http.User.FindFirstValue(ClaimTypes.Role)!)),
            Attempt.Throttled throttled => TooManyAttempts(http, throttled),
            // A fixed body (no trace id): an unknown user and a wrong password get the same bytes.
            _ => TypedResults.Json(new { title = "Login refused", status = 401, detail = SignInHandler.WrongCredentials },
                contentType: "application/problem+json", statusCode: StatusCodes.Status401Unauthorized),
        };
    }

    private static IResult TooManyAttempts(HttpContext http, Attempt.Throttled throttled)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(throttled.RetryAfter.TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Problem($"Too many failed logins from this address: try again in {seconds} s.",
            statusCode: StatusCodes.Status429TooManyRequests, title: "Login refused");
    }

    private static async Task<Attempt> SignIn(HttpContext http, ISender sender, LoginThrottle throttle, string userName, string password)
    {
        var source = http.Connection.RemoteIpAddress;
        if (throttle.RetryAfter(source, userName) is { } wait)
            return new Attempt.Throttled(wait);
        var result = userName.Length == 0 || password.Length == 0
            ? SignInOutcome.Failed(SignInHandler.WrongCredentials)
            : await sender.Send(new SignIn(userName, password));
        if (!result.Succeeded)
        {
            throttle.RecordFailure(source, userName);
            return new Attempt.Refused();
        }
        var principal = SessionCookie.PrincipalOf(new SessionState(result.UserName, result.Role, result.SecurityStamp), result.SessionId);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal);
        http.User = principal;
        return new Attempt.SignedIn();
    }

    private static async Task<IResult> Logout(HttpContext http, ISender sender, SessionCache sessions)
    {
        await EndAsync(http, sender, sessions);
        return TypedResults.LocalRedirect("/login");
    }

    private static async Task EndAsync(HttpContext http, ISender sender, SessionCache sessions)
    {
        if (http.User.FindFirstValue(SessionCookie.SessionIdClaim) is { } sessionId)
        {
            await sender.Send(new EndSession(sessionId, http.User.Identity?.Name ?? ""));
            sessions.Forget(sessionId);
        }
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
    }

    public static string RoleName(UserRole role) => role == UserRole.Admin ? CurrentUser.AdminRole : CurrentUser.ViewerRole;

    private static bool IsLocal(string? url) => RedirectHttpResult.IsLocalUrl(url);
}
