using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Ssm.Application.Api;

namespace Ssm.Infrastructure.Security;

/// <summary>
/// API access tokens sealed with ASP.NET data protection: authenticated encryption with the key ring both nodes
/// read from the database, and an expiry checked on every open. No token is stored anywhere.
/// </summary>
public sealed class ApiTokenProtector(IDataProtectionProvider provider) : IApiTokenProtector
{
    private readonly ITimeLimitedDataProtector _protector = provider.CreateProtector("Ssm.ApiToolkit.AccessToken.v1").ToTimeLimitedDataProtector();

    public string Protect(ApiTokenClaims claims, DateTimeOffset expiresAt) =>
        _protector.Protect($"{claims.ClientId}\n{claims.AccountId:N}", expiresAt);

    public ApiTokenClaims? Unprotect(string token)
    {
        try
        {
            var parts = _protector.Unprotect(token, out _).Split('\n');
            return parts.Length == 2 && Guid.TryParseExact(parts[1], "N", out var accountId) ? new ApiTokenClaims(parts[0], accountId) : null;
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            return null;
        }
    }
}
