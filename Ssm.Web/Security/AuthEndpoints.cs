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
        return app;
    }

    public sealed record Credentials(string UserName, string Password);

    private static async Task<IResult> LoginForm(HttpContext http, ISender sender,
        [FromForm] string? userName, [FromForm] string? password, [FromForm] string? returnUrl)
    {
        var result = await SignIn(http, sender, userName ?? "", password ?? "");
        if (result.Succeeded)
            return TypedResults.LocalRedirect(IsLocal(returnUrl) ? returnUrl! : "/");
        var error = result.Error.Contains("locked out") ? "locked" : "credentials";
        return TypedResults.LocalRedirect($"/login?error={error}&returnUrl={Uri.EscapeDataString(IsLocal(returnUrl) ? returnUrl! : "/")}");
    }

    private static async Task<IResult> LoginJson(HttpContext http, ISender sender, Credentials credentials)
    {
        var result = await SignIn(http, sender, credentials.UserName ?? "", credentials.Password ?? "");
        return result.Succeeded
            ? TypedResults.Ok(new { userName = result.UserName, role = RoleName(result.Role) })
            : TypedResults.Problem(result.Error, statusCode: StatusCodes.Status401Unauthorized, title: "Login refused");
    }

    private static async Task<SignInOutcome> SignIn(HttpContext http, ISender sender, string userName, string password)
    {
        if (userName.Length == 0 || password.Length == 0)
            return SignInOutcome.Failed(SignInHandler.WrongCredentials);
        var result = await sender.Send(new SignIn(userName, password));
        if (result.Succeeded)
        {
            var principal = CurrentUser.For(result.UserName, RoleName(result.Role));
            await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal);
        }
        return result;
    }

    private static async Task<IResult> Logout(HttpContext http)
    {
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.LocalRedirect("/login");
    }

    public static string RoleName(UserRole role) => role == UserRole.Admin ? CurrentUser.AdminRole : CurrentUser.ViewerRole;

    private static bool IsLocal(string? url) => RedirectHttpResult.IsLocalUrl(url);
}
