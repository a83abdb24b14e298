using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using FluentValidation;
using Mediator;
using Ssm.Application.Common;
using Ssm.Application.Registration;
using Ssm.Domain;
using Ssm.Domain.Registration;

namespace Ssm.Web.Endpoints;

/// <summary>
/// The product-facing Smart Transport endpoint (docs/smart-transport.md): one JSON envelope per request,
/// HTTPS only, a JSON error with a stable code for every refusal, and nothing written when refused.
/// </summary>
public static class SmartTransportEndpoints
{
    public const string Path = "/SmartTransport";
    public const string CallHomePath = "/Transportgateway/services/DeviceRequestHandler";
    public const string RateLimitPolicy = "products";
    public const int MaxBodyBytes = 64 * 1024;

    public const string InstanceHeader = "X-Ssm-Instance";
    public const string TimestampHeader = "X-Ssm-Timestamp";
    public const string SignatureHeader = "X-Ssm-Signature";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.Strict,
    };

    public static IEndpointRouteBuilder MapSmartTransportEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost(Path, Handle).AllowAnonymous().DisableAntiforgery().RequireRateLimiting(RateLimitPolicy);
        app.MapPost(CallHomePath, Handle).AllowAnonymous().DisableAntiforgery().RequireRateLimiting(RateLimitPolicy);
        return app;
    }

    /// <summary>Products are limited per source address: a token bucket of `SmartTransport:RequestsPerSecond` (0 = no limit).</summary>
    public static IServiceCollection AddProductRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        var perSecond = configuration.GetValue("SmartTransport:RequestsPerSecond", 200);
        services.AddRateLimiter(limits =>
        {
            limits.AddPolicy(RateLimitPolicy, http => perSecond <= 0
                ? RateLimitPartition.GetNoLimiter("all")
                : RateLimitPartition.GetTokenBucketLimiter(http.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = 2 * perSecond,
                    TokensPerPeriod = perSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                }));
            limits.OnRejected = async (context, cancellationToken) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                await WriteError(context.HttpContext, StatusCodes.Status429TooManyRequests, RegistrationErrorCode.TooManyRequests,
                    $"More than {perSecond} requests per second from {context.HttpContext.Connection.RemoteIpAddress}: slow down and retry.",
                    cancellationToken);
            };
        });
        return services;
    }

    private static async Task Handle(HttpContext http, ISender sender, ILoggerFactory logs)
    {
        var cancellationToken = http.RequestAborted;
        try
        {
            if (!http.Request.IsHttps)
                throw new RegistrationException(RegistrationErrorCode.HttpsRequired,
                    "Smart Transport is served over HTTPS only: use https:// and the server's HTTPS port.");
            var body = await ReadBodyAsync(http.Request);
            var host = http.Request.Host.Host;
            object response = await DispatchAsync(sender, host, http.Request.Headers, body, cancellationToken);
            http.Response.StatusCode = StatusCodes.Status200OK;
            await http.Response.WriteAsJsonAsync(response, Json, cancellationToken);
        }
        catch (Exception error) when (Refusal(error) is { } refusal)
        {
            logs.CreateLogger(typeof(SmartTransportEndpoints)).LogInformation("Smart Transport refused a request from {Source}: {Code} {Message}",
                http.Connection.RemoteIpAddress, refusal.Code, refusal.Message);
            await WriteError(http, refusal.Status, refusal.Code, refusal.Message, cancellationToken);
        }
    }

    private sealed record Refused(int Status, RegistrationErrorCode Code, string Message);

    private static Refused? Refusal(Exception error) => error switch
    {
        RegistrationException r => new Refused(StatusOf(r.Code), r.Code, r.Message),
        ValidationException v => new Refused(StatusCodes.Status400BadRequest, RegistrationErrorCode.MalformedRequest, ErrorText.Describe(v)),
        DomainException d => new Refused(StatusCodes.Status400BadRequest, RegistrationErrorCode.MalformedRequest, d.Message),
        JsonException j => new Refused(StatusCodes.Status400BadRequest, RegistrationErrorCode.MalformedRequest,
            $"The body is not the JSON this request takes: {j.Message.Split(" Path:")[0]}"),
        ConflictException c => new Refused(StatusCodes.Status409Conflict, RegistrationErrorCode.TokenUsedUp, c.Message),
        BadHttpRequestException b when b.StatusCode == StatusCodes.Status413PayloadTooLarge => TooLarge(),
        _ => null,
    };

    private static Refused TooLarge() => new(StatusCodes.Status413PayloadTooLarge, RegistrationErrorCode.RequestTooLarge,
        $"The body is larger than {MaxBodyBytes / 1024} KiB.");

    public static int StatusOf(RegistrationErrorCode code) => code switch
    {
        RegistrationErrorCode.MalformedRequest => StatusCodes.Status400BadRequest,
        RegistrationErrorCode.TokenUnknown or RegistrationErrorCode.NotRegistered or RegistrationErrorCode.SignatureInvalid
            or RegistrationErrorCode.CertificateExpired or RegistrationErrorCode.ClockSkew => StatusCodes.Status401Unauthorized,
        RegistrationErrorCode.TokenExpired or RegistrationErrorCode.TokenRevoked or RegistrationErrorCode.TokenUsedUp
            or RegistrationErrorCode.ExportControlNotAllowed or RegistrationErrorCode.AccountNotActive
            or RegistrationErrorCode.HttpsRequired => StatusCodes.Status403Forbidden,
        RegistrationErrorCode.DuplicateProduct or RegistrationErrorCode.ReportReplayed => StatusCodes.Status409Conflict,
        RegistrationErrorCode.HostNameMismatch or RegistrationErrorCode.CertificateNotReady => StatusCodes.Status421MisdirectedRequest,
        RegistrationErrorCode.TooManyRequests => StatusCodes.Status429TooManyRequests,
        RegistrationErrorCode.RequestTooLarge => StatusCodes.Status413PayloadTooLarge,
        _ => StatusCodes.Status400BadRequest,
    };

    /// <summary>"TokenUsedUp" → "TOKEN_USED_UP", the form the documentation and products use.</summary>
    public static string CodeText(RegistrationErrorCode code) =>
        string.Concat(code.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : c.ToString())).ToUpperInvariant();

    private static Task WriteError(HttpContext http, int status, RegistrationErrorCode code, string message, CancellationToken cancellationToken)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new ErrorBody("FAILURE", new ErrorDetail(CodeText(code), message)), Json, cancellationToken);
    }

    public sealed record ErrorBody(string Status, ErrorDetail Error);

    public sealed record ErrorDetail(string Code, string Message);

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request) =>
        await RequestBodies.ReadAtMostAsync(request, MaxBodyBytes) ?? throw new BadHttpRequestException("too large", StatusCodes.Status413PayloadTooLarge);

    private sealed record Udi(string? Pid, string? Sn);

    /// <summary>
    /// A request as products send it: its kind and the fields of every kind, read in one pass (the envelope and then
    /// the body of its kind were two parses of the same bytes, about 1% of a registration's CPU).
    /// </summary>
    private sealed record RequestBody(string? Request, string? Token, Udi? Udi, string? ProductName, string? ProductType, string? HostName,
        string? Csr, string? PublicKey, bool ExportControlled, bool Force, List<EntitlementRequest>? Entitlements, List<UsageReport>? Reports);

    private static async Task<object> DispatchAsync(ISender sender, string host, IHeaderDictionary headers, byte[] body,
        CancellationToken cancellationToken)
    {
        var r = Parse<RequestBody>(body);
        var kind = r.Request;
        switch (kind)
        {
            case "register":
                var registered = await sender.Send(new RegisterProduct(host, r.Token ?? "", r.Udi?.Pid ?? "", r.Udi?.Sn ?? "", r.ProductName ?? "",
                    r.ProductType ?? "", r.HostName ?? "", r.Csr, r.PublicKey, r.ExportControlled, r.Force), cancellationToken);
                return new { status = "OK", registered.InstanceId, registered.Account, registered.IdCertificate, registered.CaCertificate,
                    registered.NotAfter, registered.RenewAfter };
            case "renew":
                var renewed = await sender.Send(new RenewProductCertificate(host, Signed(headers, body), r.Csr), cancellationToken);
                return new { status = "OK", renewed.InstanceId, renewed.IdCertificate, renewed.NotAfter, renewed.RenewAfter };
            case "authorize":
                var authorized = await sender.Send(new AuthorizeProduct(host, Signed(headers, body), r.Entitlements ?? []), cancellationToken);
                return new { status = "OK", authorized.InstanceId, authorized.Entitlements };
            case "report":
                var accepted = await sender.Send(new ReportUsage(host, Signed(headers, body), r.Reports ?? []), cancellationToken);
                return new { status = "OK", accepted.InstanceId, accepted.Accepted, accepted.AlreadyReceived };
            case "deregister":
                var gone = await sender.Send(new DeregisterProduct(host, Signed(headers, body)), cancellationToken);
                return new { status = "OK", instanceId = gone };
            default:
                throw new RegistrationException(RegistrationErrorCode.MalformedRequest,
                    kind is null ? "The body needs a \"request\" field: register, renew, authorize, report or deregister."
                        : $"Unknown request '{kind}': expected register, renew, authorize, report or deregister.");
        }
    }

    private static T Parse<T>(byte[] body)
    {
        if (body.Length == 0)
            throw new RegistrationException(RegistrationErrorCode.MalformedRequest, "The body is empty: send a JSON object.");
        return JsonSerializer.Deserialize<T>(body, Json)
               ?? throw new RegistrationException(RegistrationErrorCode.MalformedRequest, "The body must be a JSON object, not null.");
    }

    private static SignedRequest Signed(IHeaderDictionary headers, byte[] body)
    {
        if (!Guid.TryParse(headers[InstanceHeader].ToString(), out var instance)
            || !long.TryParse(headers[TimestampHeader].ToString(), out var timestamp)
            || headers[SignatureHeader].ToString() is not { Length: > 0 and < 200 } signature)
            throw new RegistrationException(RegistrationErrorCode.NotRegistered,
                $"A registered product signs every request: send {InstanceHeader}, {TimestampHeader} and {SignatureHeader} (docs/smart-transport.md).");
        return new SignedRequest(instance, timestamp, signature, body);
    }
}
