using System.Security.Claims;
using System.Text.Encodings.Web;
using Mediator;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Ssm.Application.Api;
using Ssm.Web.Endpoints;

namespace Ssm.Web.Security;

/// <summary>
/// The API toolkit's bearer tokens as an authentication scheme of their own. Endpoints that require
/// <see cref="Policy"/> are authenticated by this scheme only: the dashboard's cookie does not open them,
/// and the cookie fallback policy does not apply to them.
/// </summary>
public static class ApiTokenAuthentication
{
    public const string Scheme = "ApiToken";
    public const string Policy = "ApiToken";
    public const string ClientIdClaim = "ssm:api_client_id";
    private const string ClientNameClaim = "ssm:api_client_name";
    private const string AccountIdClaim = "ssm:account_id";
    private const string AccountNameClaim = "ssm:account_name";

    public static IServiceCollection AddApiTokenAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, ApiTokenHandler>(Scheme, null);
        services.AddAuthorizationBuilder().AddPolicy(Policy, policy => policy.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        return services;
    }

    public static ClaimsPrincipal PrincipalOf(ApiCaller caller) => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.Name, $"api-client:{caller.ClientName}"),
        new Claim(ClientIdClaim, caller.ClientId),
        new Claim(ClientNameClaim, caller.ClientName),
        new Claim(AccountIdClaim, caller.AccountId.ToString()),
        new Claim(AccountNameClaim, caller.AccountName),
    ], Scheme));

    public static ApiCaller CallerOf(ClaimsPrincipal user) => new(user.FindFirstValue(ClientIdClaim)!, user.FindFirstValue(ClientNameClaim)!,
        Guid.Parse(user.FindFirstValue(AccountIdClaim)!), user.FindFirstValue(AccountNameClaim)!);
}

public sealed class ApiTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ISender sender)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private const string Bearer = "Bearer ";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
            return AuthenticateResult.NoResult();
        try
        {
            var caller = await sender.Send(new AuthenticateApiToken(header[Bearer.Length..].Trim()), Context.RequestAborted);
            return AuthenticateResult.Success(new AuthenticationTicket(ApiTokenAuthentication.PrincipalOf(caller), Scheme.Name));
        }
        catch (ApiAuthException ex)
        {
            return AuthenticateResult.Fail(ex);
        }
    }

    /// <summary>RFC 6750 §3: 401 with WWW-Authenticate, and the reason as an OAuth-style JSON error.</summary>
    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var (error, description) = result.Failure is ApiAuthException refused
            ? (refused.Error, refused.Message)
            : (ApiAuthException.InvalidRequest, "Send Authorization: Bearer <access_token>; POST /backend/oauth/token issues one.");
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        // RFC 6750 §3.1: a request that sent no token gets the challenge without an error code.
        Response.Headers.WWWAuthenticate = result.Failure is null ? "Bearer realm=\"ssm\"" : $"Bearer realm=\"ssm\", error=\"{error}\"";
        Response.Headers.CacheControl = "no-store";
        await Response.WriteAsJsonAsync(new OAuthError(error, description));
    }
}
