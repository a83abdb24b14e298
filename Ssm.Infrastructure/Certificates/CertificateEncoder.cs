using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ssm.Infrastructure.Certificates;

/// <summary>
/// Writes an X.509 v3 certificate (RFC 5280 §4.1) signed with ECDSA-SHA256 straight to DER. CertificateRequest.Create
/// does the same but hands back an X509Certificate2, and decoding that again through OpenSSL 3 was a fifth of a
/// registration's CPU time on the active node (a registration storm issues one per product).
/// </summary>
public static class CertificateEncoder
{
    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";

    // RFC 5280 §4.1.2.5: UTCTime until the end of 2049, GeneralizedTime from 2050 on.
    private static readonly DateTimeOffset GeneralizedTimeFrom = new(2050, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static byte[] Sign(X500DistinguishedName issuer, ECDsa issuerKey, X500DistinguishedName subject, ReadOnlySpan<byte> subjectPublicKeyInfo,
        ReadOnlySpan<byte> serial, DateTimeOffset notBefore, DateTimeOffset notAfter, IEnumerable<X509Extension> extensions)
    {
        if (serial.IsEmpty || serial[0] >= 0x80)
            throw new ArgumentException("The serial number must be a positive integer (first byte below 0x80).", nameof(serial));
        var tbs = new AsnWriter(AsnEncodingRules.DER);
        using (tbs.PushSequence())
        {
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
                tbs.WriteInteger(2); // v3
            tbs.WriteIntegerUnsigned(serial);
            WriteAlgorithm(tbs);
            tbs.WriteEncodedValue(issuer.RawData);
            using (tbs.PushSequence())
            {
                WriteTime(tbs, notBefore);
                WriteTime(tbs, notAfter);
            }
            tbs.WriteEncodedValue(subject.RawData);
            tbs.WriteEncodedValue(subjectPublicKeyInfo);
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3)))
            using (tbs.PushSequence())
            {
                foreach (var extension in extensions)
                    using (tbs.PushSequence())
                    {
                        tbs.WriteObjectIdentifier(extension.Oid!.Value!);
                        if (extension.Critical)
                            tbs.WriteBoolean(true); // DER leaves out the default (false)
                        tbs.WriteOctetString(extension.RawData);
                    }
            }
        }
        var toBeSigned = tbs.Encode();
        var signature = issuerKey.SignData(toBeSigned, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

        var certificate = new AsnWriter(AsnEncodingRules.DER);
        using (certificate.PushSequence())
        {
            certificate.WriteEncodedValue(toBeSigned);
            WriteAlgorithm(certificate);
            certificate.WriteBitString(signature);
        }
        return certificate.Encode();
    }

    // RFC 5758 §3.2: the ECDSA algorithm identifiers carry no parameters.
    private static void WriteAlgorithm(AsnWriter writer)
    {
        using (writer.PushSequence())
            writer.WriteObjectIdentifier(EcdsaWithSha256);
    }

    private static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        if (utc < GeneralizedTimeFrom)
            writer.WriteUtcTime(utc);
        else
            writer.WriteGeneralizedTime(utc, omitFractionalSeconds: true);
    }
}
