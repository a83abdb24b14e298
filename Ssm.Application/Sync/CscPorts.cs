namespace Ssm.Application.Sync;

/// <summary>The operator's own login at Cisco Software Central, typed in for one request and never stored.</summary>
public sealed record CscCredentials(string User, string Password)
{
    public override string ToString() => $"CscCredentials {{ User = {User} }}";
}

public enum ActivationStatus
{
    Pending,
    Approved,
    Rejected,
}

public sealed record ActivationRequest(Guid LocalAccountId, string Name, string ContactEmail, string OnPremServer);

public sealed record ActivationReply(string RequestId, ActivationStatus Status, string? AccountId, string? AccessToken, DateTimeOffset? ExpiresAt, string? Reason);

public sealed record TokenReply(string AccessToken, DateTimeOffset ExpiresAt);

public sealed record EntitlementInfo(string Tag, string Name, int Quantity, DateOnly StartDate, DateOnly EndDate);

public sealed record UploadReply(string BatchId, int Accepted, int Duplicates);

public sealed record SignedCertificate(string CertificatePem, IReadOnlyList<string> ChainPem);

/// <summary>Cisco Software Central as the node speaks to it (docs/csc-api.md).</summary>
public interface ICscClient
{
    bool Configured { get; }
    string Endpoint { get; }
    Task<ActivationReply> RequestActivationAsync(CscCredentials credentials, ActivationRequest request, CancellationToken cancellationToken);
    Task<ActivationReply> GetActivationAsync(string requestId, CancellationToken cancellationToken);
    Task<TokenReply> RenewTokenAsync(CscCredentials credentials, string accountId, CancellationToken cancellationToken);
    Task<IReadOnlyList<EntitlementInfo>> GetEntitlementsAsync(string accountId, string accessToken, CancellationToken cancellationToken);
    /// <summary>
    /// Sends a batch: each line one JSON object, a product instance or a usage record (docs/csc-api.md); an element of
    /// <paramref name="text"/> is one or more lines joined by newlines. A resend (a batch CSC may have counted already)
    /// asks before sending the body: CSC answers a known batch at once.
    /// </summary>
    Task<UploadReply> UploadAsync(string accountId, string accessToken, string batchId, IAsyncEnumerable<string> text, bool resend,
        CancellationToken cancellationToken);
    Task<SignedCertificate> SignCertificateAsync(string accountId, string accessToken, string csrPem, CancellationToken cancellationToken);
}

/// <summary>CSC could not be asked: no answer, a timeout, a broken TLS chain, or an error on its side after the retries.</summary>
public sealed class CscUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The account's access token has expired: an operator must re-authenticate with CSC credentials.</summary>
public sealed class CscTokenExpiredException(string message) : Exception(message);

/// <summary>CSC answered and said no; <see cref="Reason"/> is its reason as CSC worded it.</summary>
public sealed class CscRefusedException(string code, string reason) : Exception($"CSC refused: {reason}")
{
    public const string AccountRejected = "account_rejected";

    public string Code { get; } = code;
    public string Reason { get; } = reason;
}
