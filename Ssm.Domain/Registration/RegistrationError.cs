namespace Ssm.Domain.Registration;

/// <summary>The stable codes a product sees in a Smart Transport error (docs/smart-transport.md).</summary>
public enum RegistrationErrorCode
{
    MalformedRequest,
    TokenUnknown,
    TokenExpired,
    TokenRevoked,
    TokenUsedUp,
    ExportControlNotAllowed,
    DuplicateProduct,
    HostNameMismatch,
    CertificateNotReady,
    NotRegistered,
    SignatureInvalid,
    CertificateExpired,
    ClockSkew,
    ReportReplayed,
    AccountNotActive,
    TooManyRequests,
    RequestTooLarge,
    HttpsRequired,
}

/// <summary>A product's request is refused; nothing was written. The message names what to fix.</summary>
public sealed class RegistrationException(RegistrationErrorCode code, string message) : Exception(message)
{
    public RegistrationErrorCode Code { get; } = code;
}
