namespace Ssm.CscEmulator;

/// <summary>An error of the CSC contract: answered as problem+json with its status, `title` and `code`.</summary>
public sealed class CscError(int status, string code, string title, IDictionary<string, object?>? extensions = null) : Exception(title)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string Title { get; } = title;
    public IDictionary<string, object?> Extensions { get; } = extensions ?? new Dictionary<string, object?>();

    public static CscError Invalid(string title) => new(400, "invalid_request", title);
    public static CscError BadCredentials() => new(401, "bad_credentials", "operator user or password wrong");
    public static CscError TokenExpired() => new(401, "token_expired", "the access token has expired: renew it with operator credentials");
    public static CscError TokenInvalid() => new(401, "token_invalid", "unknown or revoked access token");
    public static CscError NotFound(string title) => new(404, "not_found", title);
    public static CscError TooLarge(long limit) => new(413, "too_large", $"body over the limit of {limit / (1024 * 1024)} MB");

    public static CscError Rejected(ActivationRequest request) => new(403, "account_rejected", request.Reason ?? "rejected",
        new Dictionary<string, object?> { ["requestId"] = request.RequestId, ["status"] = "Rejected", ["reason"] = request.Reason });

    public IResult ToResult()
    {
        var extensions = new Dictionary<string, object?>(Extensions) { ["code"] = Code };
        return Results.Problem(title: Title, statusCode: Status, extensions: extensions);
    }
}
