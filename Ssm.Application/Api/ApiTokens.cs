using Ssm.Domain.Accounts;

namespace Ssm.Application.Api;

/// <summary>What an API access token carries: checked again against the stored client on every call.</summary>
public sealed record ApiTokenClaims(string ClientId, Guid AccountId);

/// <summary>
/// Seals and opens access tokens. The implementation uses the node's data protection keys, which live in the
/// replicated database: a token issued on one node opens on the other after a failover.
/// </summary>
public interface IApiTokenProtector
{
    string Protect(ApiTokenClaims claims, DateTimeOffset expiresAt);

    /// <summary>Null when the token is forged, damaged or expired.</summary>
    ApiTokenClaims? Unprotect(string token);
}

/// <summary>The monitoring tool behind an API call, and the one account it may read.</summary>
public sealed record ApiCaller(string ClientId, string ClientName, Guid AccountId, string AccountName)
{
    /// <summary>The {account} of a URL names this caller's account, by id or by name in any case.</summary>
    public bool Owns(string account) =>
        (Guid.TryParse(account, out var id) && id == AccountId) || AccountRules.KeyOf(account) == AccountRules.KeyOf(AccountName);
}

/// <summary>An OAuth 2.0 error (RFC 6749 §5.2, RFC 6750 §3.1): the code is part of the API's contract.</summary>
public sealed class ApiAuthException(string error, string description) : Exception(description)
{
    public const string InvalidRequest = "invalid_request";
    public const string InvalidClient = "invalid_client";
    public const string UnsupportedGrantType = "unsupported_grant_type";
    public const string InvalidToken = "invalid_token";
    public const string InsufficientScope = "insufficient_scope";

    public string Error { get; } = error;
}
