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
        group.MapPost("/password", PasswordForm);
        app.MapPost("/api/session/password", PasswordJson);
        // For scripts and monitoring tools: the same check, JSON in and out, sets the same cookie.
        app.MapPost("/api/session", LoginJson).AllowAnonymous();
        app.MapGet("/api/session", (HttpContext http) => TypedResults.Ok(SessionInfo.Of(http.User)));
        app.MapDelete("/api/session", async (HttpContext http, ISender sender, SessionCache sessions) =>
        {
            await EndAsync(http, sender, sessions);
            return TypedResults.NoContent();
        });
        return app;
    }

    public sealed record Credentials(string UserName, string Password);

    /// <summary>Who the cookie signs in, with the role and grants as the node sees them now.</summary>
    public sealed record SessionInfo(string UserName, string Role, IReadOnlyList<string> Grants, bool MustChangePassword)
    {
        public static SessionInfo Of(ClaimsPrincipal user) => new(user.Identity!.Name!, user.FindFirstValue(ClaimTypes.Role)!,
            user.FindAll(CurrentUser.GrantClaim).Select(c => c.Value).ToList(), user.HasClaim(CurrentUser.MustChangePasswordClaim, "true"));
    }

    public sealed record PasswordChange(string? CurrentPassword, string? NewPassword);

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
            // After an administrator's reset the user chooses a password before anything else.
            Attempt.SignedIn when http.User.HasClaim(CurrentUser.MustChangePasswordClaim, "true") =>
                TypedResults.LocalRedirect($"/account/password?returnUrl={Uri.EscapeDataString(IsLocal(returnUrl) ? returnUrl! : "/")}"),
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
            Attempt.SignedIn => TypedResults.Ok(SessionInfo.Of(http.User)),
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
        var principal = SessionCookie.PrincipalOf(result.State!, result.SessionId);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal);
        http.User = principal;
        return new Attempt.SignedIn();
    }

    private static async Task<IResult> PasswordForm(HttpContext http, ISender sender, SessionCache sessions,
        [FromForm] string? currentPassword, [FromForm] string? newPassword, [FromForm] string? confirmPassword, [FromForm] string? returnUrl)
    {
        var back = IsLocal(returnUrl) ? returnUrl! : "/";
        if (newPassword != confirmPassword)
            return TypedResults.LocalRedirect($"/account/password?error=mismatch&returnUrl={Uri.EscapeDataString(back)}");
        try
        {
            await ChangeAsync(http, sender, sessions, new PasswordChange(currentPassword, newPassword));
            return TypedResults.LocalRedirect(back);
        }
        catch (Exception ex) when (ex is FluentValidation.ValidationException or Application.Common.ForbiddenException)
        {
            var error = ex is FluentValidation.ValidationException ? "policy" : "current";
            return TypedResults.LocalRedirect($"/account/password?error={error}&returnUrl={Uri.EscapeDataString(back)}");
        }
    }

    /// <summary>Errors are problem details from the shared handler: 400 for the policy, 403 for a wrong current password.</summary>
    private static async Task<NoContent> PasswordJson(HttpContext http, ISender sender, SessionCache sessions, PasswordChange body)
    {
        await ChangeAsync(http, sender, sessions, body);
        return TypedResults.NoContent();
    }

    private static async Task ChangeAsync(HttpContext http, ISender sender, SessionCache sessions, PasswordChange change)
    {
        await sender.Send(new ChangeOwnPassword(change.CurrentPassword ?? "", change.NewPassword ?? ""));
        // The next request reads the new stamp at once, not the cached state that still demands a change.
        if (http.User.FindFirstValue(SessionCookie.SessionIdClaim) is { } sessionId)
            sessions.Forget(sessionId);
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

    public static string RoleName(UserRole role) => role switch
    {
        UserRole.Admin => CurrentUser.AdminRole,
        UserRole.Viewer => CurrentUser.ViewerRole,
        _ => CurrentUser.AccountsRole,
    };

    private static bool IsLocal(string? url) => RedirectHttpResult.IsLocalUrl(url);
}
