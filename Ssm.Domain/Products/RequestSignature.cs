using System.Security.Cryptography;
using System.Text;
using Ssm.Domain.Registration;

namespace Ssm.Domain.Products;

/// <summary>
/// How a registered product proves each request: an ECDSA P-256 / SHA-256 signature, with the key of its ID
/// certificate, over the time, the host it addressed and the body (docs/smart-transport.md).
/// </summary>
public static class RequestSignature
{
    public static readonly TimeSpan AllowedSkew = TimeSpan.FromMinutes(5);

    public static byte[] Payload(long unixSeconds, string host, ReadOnlySpan<byte> body)
    {
        var head = Encoding.UTF8.GetBytes($"{unixSeconds}\n{host.ToLowerInvariant()}\n");
        var payload = new byte[head.Length + body.Length];
        head.CopyTo(payload, 0);
        body.CopyTo(payload.AsSpan(head.Length));
        return payload;
    }

    public static string Sign(ECDsa key, long unixSeconds, string host, ReadOnlySpan<byte> body) =>
        Convert.ToBase64String(key.SignData(Payload(unixSeconds, host, body), HashAlgorithmName.SHA256));

    /// <summary>Throws the product-facing reason when the signature or its time does not hold.</summary>
    public static void Verify(byte[] publicKey, long unixSeconds, string host, ReadOnlySpan<byte> body, string signature, DateTimeOffset now)
    {
        var skew = now - DateTimeOffset.FromUnixTimeSeconds(unixSeconds);
        if (skew.Duration() > AllowedSkew)
            throw new RegistrationException(RegistrationErrorCode.ClockSkew,
                $"The request is signed for {DateTimeOffset.FromUnixTimeSeconds(unixSeconds):u}, but the server's time is {now:u}: set the product's clock (NTP).");
        Span<byte> raw = stackalloc byte[132];
        if (!Convert.TryFromBase64String(signature, raw, out var length))
            throw new RegistrationException(RegistrationErrorCode.SignatureInvalid, "The request signature is not base64.");
        using var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(publicKey, out _);
        }
        catch (CryptographicException)
        {
            throw new RegistrationException(RegistrationErrorCode.SignatureInvalid, "The product's registered key cannot verify signatures.");
        }
        if (!key.VerifyData(Payload(unixSeconds, host, body), raw[..length], HashAlgorithmName.SHA256))
            throw new RegistrationException(RegistrationErrorCode.SignatureInvalid,
                "The request signature does not match the product's ID certificate.");
    }
}
