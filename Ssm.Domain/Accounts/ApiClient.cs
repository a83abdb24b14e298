using System.Security.Cryptography;
using System.Text;

namespace Ssm.Domain.Accounts;

/// <summary>
/// Credentials a monitoring tool uses with the API toolkit, bound to one local account. Only the SHA-256 of the
/// secret is stored; the secret itself is shown to the operator once, when the client is created.
/// </summary>
public sealed class ApiClient
{
    public const int NameMaxLength = 100;

    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public string Name { get; set; } = "";
    /// <summary>Random and not secret: shown in the dashboard, sent by the tool with the secret.</summary>
    public string ClientId { get; set; } = "";
    public string SecretHash { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTimeOffset? RevokedAt { get; set; }
    public string? RevokedBy { get; set; }

    public bool IsRevoked => RevokedAt is not null;

    /// <summary>A new client and its secret (the only time the secret exists in clear).</summary>
    public static (ApiClient Client, string Secret) Create(Guid accountId, string name, string createdBy, DateTimeOffset now)
    {
        var trimmed = name.Trim();
        if (trimmed.Length is 0 or > NameMaxLength)
            throw new DomainException($"An API client's name is 1 to {NameMaxLength} characters.");
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var client = new ApiClient
        {
            Id = Guid.CreateVersion7(now),
            AccountId = accountId,
            Name = trimmed,
            ClientId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
            SecretHash = HashOf(secret),
            CreatedAt = now,
            CreatedBy = createdBy,
        };
        return (client, secret);
    }

    public static string HashOf(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public bool HasSecret(string secret) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(HashOf(secret)), Encoding.ASCII.GetBytes(SecretHash));

    public void Revoke(string by, DateTimeOffset now)
    {
        if (RevokedAt is not null)
            throw new DomainException($"API client '{Name}' was already revoked on {RevokedAt:u}.");
        RevokedAt = now;
        RevokedBy = by;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
