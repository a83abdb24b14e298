using System.Formats.Asn1;
using System.Security.Cryptography;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Infrastructure.Certificates;

/// <summary>
/// Reads a product's CSR (PKCS#10, RFC 2986) and checks its proof of possession: the request is signed with the
/// private key of the P-256 public key it carries. Parsed here rather than by CertificateRequest.LoadSigningRequestPem,
/// which imports the key through a path that costs OpenSSL 3 as much as the signature check itself (decision 0044).
/// </summary>
public static class ProductKeyRequests
{
    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2", EcdsaWithSha384 = "1.2.840.10045.4.3.3", EcdsaWithSha512 = "1.2.840.10045.4.3.4";

    /// <summary>The request's public key (SubjectPublicKeyInfo, DER), once its signature verifies.</summary>
    public static byte[] VerifiedKeyOf(string pem)
    {
        var der = DerOf(pem) ?? throw Malformed();
        ReadOnlyMemory<byte> info, key;
        string algorithm;
        byte[] signature;
        try
        {
            // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
            var outer = new AsnReader(der, AsnEncodingRules.DER);
            var request = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            info = request.ReadEncodedValue();
            var identifier = request.ReadSequence();
            algorithm = identifier.ReadObjectIdentifier();
            identifier.ThrowIfNotEmpty(); // RFC 5758 §3.2: the ECDSA identifiers carry no parameters
            signature = request.ReadBitString(out var unusedBits);
            request.ThrowIfNotEmpty();
            if (unusedBits != 0)
                throw Malformed();

            // CertificationRequestInfo ::= SEQUENCE { version INTEGER (0), subject Name, subjectPKInfo, attributes [0] }
            var fields = new AsnReader(info, AsnEncodingRules.DER).ReadSequence();
            if (!fields.TryReadInt32(out var version) || version != 0)
                throw Malformed();
            fields.ReadEncodedValue();
            key = fields.ReadEncodedValue();
            fields.ReadEncodedValue();
            fields.ThrowIfNotEmpty();
        }
        catch (AsnContentException)
        {
            throw Malformed();
        }
        if (!P256Key.IsInfo(key.Span))
            throw new RegistrationException(RegistrationErrorCode.MalformedRequest, "The product's key must be an ECDSA key on curve P-256.");
        var hash = algorithm switch
        {
            EcdsaWithSha256 => HashAlgorithmName.SHA256,
            EcdsaWithSha384 => HashAlgorithmName.SHA384,
            EcdsaWithSha512 => HashAlgorithmName.SHA512,
            _ => throw Malformed(),
        };
        if (!P256Signatures.Verify(key.Span[P256Key.InfoPrefix.Length..], info.Span, hash, signature))
            throw Malformed();
        return key.ToArray();
    }

    /// <summary>The DER of the first "CERTIFICATE REQUEST" in the text (OpenSSL's older "NEW CERTIFICATE REQUEST" too).</summary>
    private static byte[]? DerOf(string pem)
    {
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var found))
        {
            var label = rest[found.Label];
            if (label is "CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST")
            {
                var der = new byte[found.DecodedDataLength];
                return Convert.TryFromBase64Chars(rest[found.Base64Data], der, out var written) && written == der.Length ? der : null;
            }
            rest = rest[found.Location.End..];
        }
        return null;
    }

    private static RegistrationException Malformed() =>
        new(RegistrationErrorCode.MalformedRequest, "csr is not a PKCS#10 request in PEM whose signature verifies.");
}
