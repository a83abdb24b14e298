using System.Security.Cryptography;
using System.Text;

namespace Ssm.Domain.Registration;

public enum TokenStatus
{
    Active,
    Expired,
    Revoked,
    UsedUp,
}

/// <summary>
/// A registration token of a virtual account: products present it once, to register. It is found by the SHA-256
/// of its text; the text itself is kept only sealed with the data protection keys (<see cref="SealedValue"/>), so
/// that those allowed to can read it again, as in SSM (decision 0024).
/// </summary>
public sealed class RegistrationToken
{
    public const int MaxExpiryDays = 365;
    public const int DescriptionMaxLength = 200;

    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    /// <summary>The virtual account its products join; the account's DEFAULT has the account's id.</summary>
    public Guid VirtualAccountId { get; set; }
    public string Description { get; set; } = "";
    public string SecretHash { get; set; } = "";
    /// <summary>The first characters of the token, so an operator can tell tokens apart without the secret.</summary>
    public string Prefix { get; set; } = "";
    /// <summary>The token's text sealed with the data protection keys; null for a token made before values were kept.</summary>
    public string? SealedValue { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTimeOffset ExpiresAt { get; set; }
    /// <summary>Null: any number of products may register with it.</summary>
    public int? MaxUses { get; set; }
    /// <summary>Counted only for tokens with <see cref="MaxUses"/>: that count is what the limit guards.</summary>
    public int Uses { get; set; }
    public bool AllowExportControlled { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public string? RevokedBy { get; set; }

    /// <summary>A new token and its secret text (the only time the text exists).</summary>
    public static (RegistrationToken Token, string Secret) Create(Guid accountId, Guid virtualAccountId, string description, int expiryDays, int? maxUses,
        bool allowExportControlled, string createdBy, DateTimeOffset now)
    {
        if (expiryDays is < 1 or > MaxExpiryDays)
            throw new DomainException($"A token expires after 1 to {MaxExpiryDays} days, not {expiryDays}.");
        if (maxUses is < 1)
            throw new DomainException($"Maximum uses must be at least 1 (or empty for no limit), not {maxUses}.");
        var secret = Base64Url(RandomNumberGenerator.GetBytes(48));
        var token = new RegistrationToken
        {
            Id = Guid.CreateVersion7(now),
            AccountId = accountId,
            VirtualAccountId = virtualAccountId,
            Description = description.Trim(),
            SecretHash = HashOf(secret),
            Prefix = secret[..8],
            CreatedAt = now,
            CreatedBy = createdBy,
            ExpiresAt = now.AddDays(expiryDays),
            MaxUses = maxUses,
            AllowExportControlled = allowExportControlled,
        };
        return (token, secret);
    }

    public static string HashOf(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public TokenStatus StatusAt(DateTimeOffset now) =>
        RevokedAt is not null ? TokenStatus.Revoked
        : ExpiresAt <= now ? TokenStatus.Expired
        : MaxUses is { } max && Uses >= max ? TokenStatus.UsedUp
        : TokenStatus.Active;

    public int? UsesLeft => MaxUses is { } max ? Math.Max(0, max - Uses) : null;

    /// <summary>Throws the product-facing reason when this token cannot register a product now.</summary>
    public void EnsureUsable(bool exportControlled, DateTimeOffset now)
    {
        switch (StatusAt(now))
        {
            case TokenStatus.Revoked:
                throw new RegistrationException(RegistrationErrorCode.TokenRevoked, $"The registration token was revoked on {RevokedAt:u}.");
            case TokenStatus.Expired:
                throw new RegistrationException(RegistrationErrorCode.TokenExpired, $"The registration token expired on {ExpiresAt:u}.");
            case TokenStatus.UsedUp:
                throw new RegistrationException(RegistrationErrorCode.TokenUsedUp, $"The registration token has been used its {MaxUses} times.");
        }
        if (exportControlled && !AllowExportControlled)
            throw new RegistrationException(RegistrationErrorCode.ExportControlNotAllowed,
                "The product asks for export-controlled functionality, which this registration token does not allow.");
    }

    public void Revoke(string by, DateTimeOffset now)
    {
        if (RevokedAt is not null)
            throw new DomainException($"Token {Prefix}… was already revoked on {RevokedAt:u}.");
        RevokedAt = now;
        RevokedBy = by;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
