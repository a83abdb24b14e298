using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Ssm.Application.Api;
using Ssm.Application.Common;
using Ssm.Web.Security;

namespace Ssm.Web.Endpoints;

/// <summary>An OAuth-style error (RFC 6749 §5.2): every refusal of the API toolkit reads like this.</summary>
public sealed record OAuthError(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("error_description")] string Description);

/// <summary>
/// The API toolkit for monitoring tools, modelled on SSM On-Prem's: a client credentials token endpoint and
/// read-only account data behind bearer tokens (see docs/api-toolkit.md). The bodies are read here rather than
/// bound, so any body (none, empty, malformed, too large, sent as a form by curl -d) gets a JSON answer.
/// </summary>
public static class ApiToolkitEndpoints
{
    public const int MaxBodyBytes = 16 * 1024;

    public static IEndpointRouteBuilder MapApiToolkitEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/backend/oauth/token", Token).AllowAnonymous().RequireRateLimiting(SmartTransportEndpoints.RateLimitPolicy);
        // The older form some tools send: the grant in the query string, no body.
        app.MapPost("/oauth/token", QueryToken).AllowAnonymous().RequireRateLimiting(SmartTransportEndpoints.RateLimitPolicy);
        var account = app.MapGroup("/api/v1/accounts/{account}").RequireAuthorization(ApiTokenAuthentication.Policy)
            .RequireRateLimiting(SmartTransportEndpoints.RateLimitPolicy);
        string[] methods = [HttpMethods.Get, HttpMethods.Post];
        account.MapMethods("/licenses", methods, Licenses);
        account.MapMethods("/alerts", methods, Alerts);
        account.MapMethods("/virtual-accounts", methods, VirtualAccounts);
        account.MapMethods("/virtual-accounts/{virtualAccount}/licenses", methods, VirtualAccountLicenses);
        account.MapMethods("/virtual-accounts/{virtualAccount}/alerts", methods, VirtualAccountAlerts);
        account.MapGet("/virtual-accounts/{virtualAccount}/tokens", ListRegistrationTokens);
        account.MapPost("/virtual-accounts/{virtualAccount}/tokens", CreateRegistrationToken);
        account.MapPost("/virtual-accounts/{virtualAccount}/tokens/revoke", RevokeRegistrationToken);
        return app;
    }

    private static Task<Results<Ok<IssuedApiToken>, JsonHttpResult<OAuthError>>> Token(HttpContext http, ISender sender) =>
        IssueTokenAsync(http, sender, fromQuery: false);

    private static Task<Results<Ok<IssuedApiToken>, JsonHttpResult<OAuthError>>> QueryToken(HttpContext http, ISender sender) =>
        IssueTokenAsync(http, sender, fromQuery: true);

    private static async Task<Results<Ok<IssuedApiToken>, JsonHttpResult<OAuthError>>> IssueTokenAsync(HttpContext http, ISender sender, bool fromQuery)
    {
        http.Response.Headers.CacheControl = "no-store";
        var (body, refusal) = await ReadBodyAsync(http.Request);
        if (refusal is not null)
            return refusal;
        var (fields, error) = TokenFieldsOf(body!);
        if (error is not null)
            return Refuse(StatusCodes.Status400BadRequest, ApiAuthException.InvalidRequest, error);
        if (fromQuery)
            foreach (var name in fields!.Keys.ToList())
                if (http.Request.Query.TryGetValue(name, out var value))
                    fields[name] = value.ToString();
        try
        {
            return TypedResults.Ok(await sender.Send(new IssueApiToken(fields!["grant_type"], fields["client_id"], fields["client_secret"])));
        }
        catch (ApiAuthException ex)
        {
            var status = ex.Error == ApiAuthException.InvalidClient ? StatusCodes.Status401Unauthorized : StatusCodes.Status400BadRequest;
            return Refuse(status, ex.Error, ex.Message);
        }
    }

    private static Task<Results<Ok<ApiLicenses>, JsonHttpResult<OAuthError>>> Licenses(HttpContext http, ISender sender, string account) =>
        AnswerAsync(http, account, (id, limit) => sender.Send(new ListApiLicenses(id, limit)));

    private static Task<Results<Ok<ApiAlerts>, JsonHttpResult<OAuthError>>> Alerts(HttpContext http, ISender sender, string account) =>
        AnswerAsync(http, account, (id, limit) => sender.Send(new ListApiAlerts(id, limit)));

    private static Task<Results<Ok<ApiVirtualAccounts>, JsonHttpResult<OAuthError>>> VirtualAccounts(HttpContext http, ISender sender, string account) =>
        AnswerAsync(http, account, (id, limit) => sender.Send(new ListApiVirtualAccounts(id, limit)));

    private static Task<Results<Ok<ApiVirtualAccountLicenses>, JsonHttpResult<OAuthError>>> VirtualAccountLicenses(HttpContext http, ISender sender,
        string account, string virtualAccount) =>
        AnswerAsync(http, account, (id, limit) => sender.Send(new ListApiVirtualAccountLicenses(id, virtualAccount, limit)));

    private static Task<Results<Ok<ApiAlerts>, JsonHttpResult<OAuthError>>> VirtualAccountAlerts(HttpContext http, ISender sender, string account,
        string virtualAccount) =>
        AnswerAsync(http, account, (id, limit) => sender.Send(new ListApiVirtualAccountAlerts(id, virtualAccount, limit)));

    private static async Task<Results<Ok<ApiRegistrationTokens>, JsonHttpResult<OAuthError>>> ListRegistrationTokens(HttpContext http, ISender sender,
        string account, string virtualAccount)
    {
        var caller = ApiTokenAuthentication.CallerOf(http.User);
        if (!caller.Owns(account))
            return OtherAccount(caller);
        return await SendAsync(() => sender.Send(new ListApiRegistrationTokens(caller.AccountId, virtualAccount)));
    }

    private static Task<Results<Ok<ApiCreatedRegistrationToken>, JsonHttpResult<OAuthError>>> CreateRegistrationToken(HttpContext http,
        ISender sender, string account, string virtualAccount) =>
        WriteAsync(http, account, ApiBodies.NewTokenOf, (caller, fields) =>
            sender.Send(new CreateApiRegistrationToken(caller.AccountId, virtualAccount, fields.Description, fields.ExpiresAfterDays, fields.ExportControlled)));

    private static Task<Results<Ok<ApiRevokedRegistrationToken>, JsonHttpResult<OAuthError>>> RevokeRegistrationToken(HttpContext http,
        ISender sender, string account, string virtualAccount) =>
        WriteAsync(http, account, ApiBodies.TokenOf, async (caller, token) =>
            new ApiRevokedRegistrationToken(await sender.Send(new RevokeApiRegistrationToken(caller.AccountId, virtualAccount, token))));

    /// <summary>A toolkit write: the caller's own account, then a body that reads and parses, then the use case.</summary>
    private static async Task<Results<Ok<T>, JsonHttpResult<OAuthError>>> WriteAsync<TFields, T>(HttpContext http, string account,
        Func<byte[], (TFields? Fields, string? Error)> parse, Func<ApiCaller, TFields, ValueTask<T>> send) where TFields : class
    {
        var caller = ApiTokenAuthentication.CallerOf(http.User);
        if (!caller.Owns(account))
            return OtherAccount(caller);
        var (body, refusal) = await ReadBodyAsync(http.Request);
        if (refusal is not null)
            return refusal;
        var (fields, error) = parse(body!);
        if (error is not null)
            return Refuse(StatusCodes.Status400BadRequest, ApiAuthException.InvalidRequest, error);
        return await SendAsync(() => send(caller, fields!));
    }

    /// <summary>The use case's refusals as the toolkit's JSON errors: nothing was written when one comes back.</summary>
    private static async Task<Results<Ok<T>, JsonHttpResult<OAuthError>>> SendAsync<T>(Func<ValueTask<T>> send)
    {
        try
        {
            return TypedResults.Ok(await send());
        }
        catch (FluentValidation.ValidationException ex)
        {
            return Refuse(StatusCodes.Status400BadRequest, ApiAuthException.InvalidRequest, ErrorText.Describe(ex));
        }
        catch (NotFoundException ex)
        {
            return Refuse(StatusCodes.Status404NotFound, ApiErrors.NotFound, ex.Message);
        }
        catch (ConflictException ex)
        {
            return Refuse(StatusCodes.Status409Conflict, ApiErrors.Conflict, ex.Message);
        }
        catch (ForbiddenException ex)
        {
            return Refuse(StatusCodes.Status403Forbidden, ApiAuthException.InsufficientScope, ex.Message);
        }
    }

    private static JsonHttpResult<OAuthError> OtherAccount(ApiCaller caller) =>
        Refuse(StatusCodes.Status403Forbidden, ApiAuthException.InsufficientScope, $"This access token reads account '{caller.AccountName}' only.");

    /// <summary>The token authenticated the caller; here its account must be the one in the URL.</summary>
    private static async Task<Results<Ok<T>, JsonHttpResult<OAuthError>>> AnswerAsync<T>(HttpContext http, string account,
        Func<Guid, int, ValueTask<T>> read)
    {
        var caller = ApiTokenAuthentication.CallerOf(http.User);
        if (!caller.Owns(account))
            return OtherAccount(caller);
        var (body, refusal) = await ReadBodyAsync(http.Request);
        if (refusal is not null)
            return refusal;
        var (limit, error) = LimitOf(body!);
        if (error is not null)
            return Refuse(StatusCodes.Status400BadRequest, ApiAuthException.InvalidRequest, error);
        return await SendAsync(() => read(caller.AccountId, limit));
    }

    private static JsonHttpResult<OAuthError> Refuse(int status, string error, string description) =>
        TypedResults.Json(new OAuthError(error, description), statusCode: status);

    private static async Task<(byte[]? Body, JsonHttpResult<OAuthError>? Refusal)> ReadBodyAsync(HttpRequest request)
    {
        var tooLarge = Refuse(StatusCodes.Status413PayloadTooLarge, ApiAuthException.InvalidRequest, $"The body is larger than {MaxBodyBytes / 1024} KB.");
        return await RequestBodies.ReadAtMostAsync(request, MaxBodyBytes) is { } body ? (body, null) : (null, tooLarge);
    }

    /// <summary>{"limit": N}: -1 or no body means every item; other fields are ignored.</summary>
    private static (int Limit, string? Error) LimitOf(byte[] body)
    {
        const string rule = "limit must be -1 for all items or a number N >= 0 for the first N.";
        if (string.IsNullOrWhiteSpace(Encoding.UTF8.GetString(body)))
            return (ApiLimit.All, null);
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                return (0, "The body must be a JSON object such as {\"limit\":-1}.");
            foreach (var field in json.RootElement.EnumerateObject())
                if (field.NameEquals("limit") || string.Equals(field.Name, "limit", StringComparison.OrdinalIgnoreCase))
                    return field.Value.ValueKind == JsonValueKind.Null ? (ApiLimit.All, null)
                        : field.Value.ValueKind == JsonValueKind.Number && field.Value.TryGetInt32(out var n) && n >= ApiLimit.All ? (n, null)
                        : (0, rule);
            return (ApiLimit.All, null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or DecoderFallbackException)
        {
            return (0, "The body is not valid JSON.");
        }
    }

    /// <summary>The token request as JSON (as SSM's toolkit sends it) or as an OAuth form (RFC 6749 §4.4.2).</summary>
    private static (Dictionary<string, string?>? Fields, string? Error) TokenFieldsOf(byte[] body)
    {
        string[] names = ["grant_type", "client_id", "client_secret"];
        var text = Encoding.UTF8.GetString(body).Trim();
        if (!text.StartsWith('{'))
        {
            var form = QueryHelpers.ParseQuery(text);
            return (names.ToDictionary(n => n, n => form.TryGetValue(n, out var value) ? value.ToString() : null), null);
        }
        try
        {
            using var json = JsonDocument.Parse(text);
            var fields = new Dictionary<string, string?>();
            foreach (var name in names)
            {
                if (!json.RootElement.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
                    fields[name] = null;
                else if (value.ValueKind == JsonValueKind.String)
                    fields[name] = value.GetString();
                else
                    return (null, $"{name} must be a string.");
            }
            return (fields, null);
        }
        catch (JsonException)
        {
            return (null, "The body is not valid JSON.");
        }
        catch (InvalidOperationException)
        {
            return (null, ApiBodies.NotText);
        }
    }
}

/// <summary>Error codes of the toolkit beyond OAuth's own.</summary>
public static class ApiErrors
{
    public const string NotFound = "not_found";
    public const string Conflict = "conflict";
}

/// <summary>The answer to a revocation: the token as it now stands.</summary>
public sealed record ApiRevokedRegistrationToken(ApiRegistrationToken TokenInfo);

/// <summary>The small JSON bodies of the token calls, read by hand so that any body gets a JSON answer.</summary>
public static class ApiBodies
{
    public sealed record NewToken(string Description, int ExpiresAfterDays, bool ExportControlled);

    /// <summary>A JSON string escape that is no text (a lone surrogate such as "\uD83D"): refused, not a server error (found by FuzzTests).</summary>
    public const string NotText = "A string in the body is not valid text (a lone UTF-16 surrogate).";

    /// <summary>{"description":"…","expiresAfterDays":30,"exportControlled":false}: the days are required, the rest optional.</summary>
    public static (NewToken? Token, string? Error) NewTokenOf(byte[] body)
    {
        try
        {
            return ReadNewToken(body);
        }
        catch (InvalidOperationException)
        {
            return (null, NotText);
        }
    }

    private static (NewToken? Token, string? Error) ReadNewToken(byte[] body)
    {
        var (json, error) = ObjectOf(body, "{\"description\":\"…\",\"expiresAfterDays\":30,\"exportControlled\":false}");
        if (json is not { } root)
            return (null, error);
        var description = "";
        int? days = null;
        var exportControlled = false;
        foreach (var field in root.EnumerateObject())
        {
            if (field.NameEquals("description"))
            {
                if (field.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    return (null, "description must be a string.");
                description = field.Value.GetString() ?? "";
            }
            else if (field.NameEquals("expiresAfterDays"))
            {
                if (field.Value.ValueKind != JsonValueKind.Number || !field.Value.TryGetInt32(out var n))
                    return (null, "expiresAfterDays must be a whole number of days.");
                days = n;
            }
            else if (field.NameEquals("exportControlled"))
            {
                if (field.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    return (null, "exportControlled must be true or false.");
                exportControlled = field.Value.GetBoolean();
            }
        }
        return days is { } expires ? (new NewToken(description, expires, exportControlled), null) : (null, "expiresAfterDays is required.");
    }

    /// <summary>{"token":"…"}: the token to revoke.</summary>
    public static (string? Token, string? Error) TokenOf(byte[] body)
    {
        var (json, error) = ObjectOf(body, "{\"token\":\"…\"}");
        if (json is not { } root)
            return (null, error);
        try
        {
            return root.TryGetProperty("token", out var token) && token.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(token.GetString())
                ? (token.GetString(), null)
                : (null, "token is required: the registration token's text, as a string.");
        }
        catch (InvalidOperationException)
        {
            return (null, NotText);
        }
    }

    private static (JsonElement? Root, string? Error) ObjectOf(byte[] body, string example)
    {
        if (string.IsNullOrWhiteSpace(Encoding.UTF8.GetString(body)))
            return (null, $"Send a JSON body such as {example}.");
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object ? (json.RootElement.Clone(), null)
                : (null, $"The body must be a JSON object such as {example}.");
        }
        catch (Exception ex) when (ex is JsonException or DecoderFallbackException)
        {
            return (null, "The body is not valid JSON.");
        }
    }
}

/// <summary>The API toolkit clients of an account, as the dashboard manages them. Signed-in operators only.</summary>
public static class ApiClientEndpoints
{
    public static IEndpointRouteBuilder MapApiClientEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts/{id:guid}/api-clients", ListClients);
        app.MapPost("/api/accounts/{id:guid}/api-clients", CreateClient);
        app.MapPost("/api/api-clients/{id:guid}/revoke", RevokeClient);
        return app;
    }

    public sealed record ClientBody(string? Name);

    private static async Task<Ok<IReadOnlyList<ApiClientDto>>> ListClients(ISender sender, Guid id) =>
        TypedResults.Ok(await sender.Send(new ListApiClients(id)));

    private static async Task<Ok<CreatedApiClient>> CreateClient(ISender sender, Guid id, ClientBody body) =>
        TypedResults.Ok(await sender.Send(new CreateApiClient(id, body.Name ?? "")));

    private static async Task<NoContent> RevokeClient(ISender sender, Guid id)
    {
        await sender.Send(new RevokeApiClient(id));
        return TypedResults.NoContent();
    }
}
