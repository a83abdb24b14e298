using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ssm.CscEmulator;

/// <summary>The emulator's CSC root CA: created once in the data folder, then signs its server certificate and the nodes' CSRs.</summary>
public sealed class CscCertificates
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";
    private const string SubjectAlternativeName = "2.5.29.17";

    public X509Certificate2 Root { get; }
    public string RootPem { get; }

    private CscCertificates(X509Certificate2 root)
    {
        Root = root;
        RootPem = root.ExportCertificatePem() + "\n";
    }

    public static CscCertificates LoadOrCreate(string dataDirectory)
    {
        var certPath = Path.Combine(dataDirectory, "csc-root.pem");
        var keyPath = Path.Combine(dataDirectory, "csc-root.key");
        if (File.Exists(certPath))
        {
            if (!File.Exists(keyPath))
                throw new InvalidOperationException($"{certPath} exists but its key {keyPath} is missing: restore it, or remove both to create a new root (every node must then trust the new one).");
            return new CscCertificates(X509Certificate2.CreateFromPemFile(certPath, keyPath));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=CSC Emulator Root CA, O=ssm csc-emulator", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        var root = request.CreateSelfSigned(now.AddHours(-1), now.AddYears(10));

        // The key is written first and the certificate last: a certificate on disk always has its key.
        WriteAtomically(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n", privateFile: true);
        WriteAtomically(certPath, root.ExportCertificatePem() + "\n", privateFile: false);
        return new CscCertificates(root);
    }

    /// <summary>A certificate for the listen host (IP or DNS SAN), usable by Kestrel.</summary>
    public X509Certificate2 CreateServerCertificate(string host)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host, out var address))
            names.AddIpAddress(address);
        else
            names.AddDnsName(host);
        request.CertificateExtensions.Add(names.Build());
        AddLeafExtensions(request, [ServerAuth]);
        var (notBefore, notAfter) = Validity(TimeSpan.FromDays(365));
        using var signed = request.Create(Root, notBefore, notAfter, NewSerial());
        using var withKey = signed.CopyWithPrivateKey(key);
        // Kestrel on Linux needs a key it can hand to OpenSSL: a PKCS#12 round trip gives one.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Loads a PEM CSR, checking its signature and that its subject has a CN.</summary>
    public static CertificateRequest LoadRequest(string csrPem)
    {
        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions, RSASignaturePadding.Pkcs1);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw CscError.Invalid($"csr: not a valid PEM certificate request with a valid signature ({ex.Message})");
        }
        if (string.IsNullOrWhiteSpace(csr.SubjectName.GetCommonName()))
            throw CscError.Invalid("csr: the subject has no common name (CN)");
        return csr;
    }

    /// <summary>Signs a CSR of LoadRequest: its subject and SANs copied, one year, server and client authentication.</summary>
    public string Sign(CertificateRequest csr)
    {
        // The CSR's extensions were loaded only to take its SANs; nothing else it asks for is copied.
        var names = csr.CertificateExtensions.FirstOrDefault(e => e.Oid?.Value == SubjectAlternativeName);
        csr.CertificateExtensions.Clear();
        if (names is not null)
            csr.CertificateExtensions.Add(names);
        AddLeafExtensions(csr, [ServerAuth, ClientAuth]);
        var (notBefore, notAfter) = Validity(TimeSpan.FromDays(365));
        using var certificate = csr.Create(Root.SubjectName, RootSigner(), notBefore, notAfter, NewSerial());
        return certificate.ExportCertificatePem() + "\n";
    }

    // Create(issuerCertificate, ...) wants the subject key of the issuer's algorithm; a CSR may bring RSA or ECDSA.
    private X509SignatureGenerator RootSigner() =>
        Root.GetECDsaPrivateKey() is { } ecdsa ? X509SignatureGenerator.CreateForECDsa(ecdsa)
        : X509SignatureGenerator.CreateForRSA(Root.GetRSAPrivateKey()!, RSASignaturePadding.Pkcs1);

    private void AddLeafExtensions(CertificateRequest request, string[] usages)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        var keyUsage = X509KeyUsageFlags.DigitalSignature;
        if (request.PublicKey.Oid.Value == "1.2.840.113549.1.1.1")
            keyUsage |= X509KeyUsageFlags.KeyEncipherment;
        request.CertificateExtensions.Add(new X509KeyUsageExtension(keyUsage, true));
        var ekus = new OidCollection();
        foreach (var usage in usages)
            ekus.Add(new Oid(usage));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(ekus, false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
    }

    private (DateTimeOffset NotBefore, DateTimeOffset NotAfter) Validity(TimeSpan life)
    {
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + life;
        var rootEnd = new DateTimeOffset(Root.NotAfter.ToUniversalTime());
        return (now.AddMinutes(-5), notAfter < rootEnd ? notAfter : rootEnd);
    }

    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        return serial;
    }

    public static void WriteAtomically(string path, string text, bool privateFile)
    {
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (privateFile && !OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        if (privateFile && !OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }
}

internal static class DistinguishedNames
{
    public static string? GetCommonName(this X500DistinguishedName name) =>
        name.EnumerateRelativeDistinguishedNames()
            .Where(rdn => !rdn.HasMultipleElements && rdn.GetSingleElementType().Value == "2.5.4.3")
            .Select(rdn => rdn.GetSingleElementValue())
            .FirstOrDefault();
}
