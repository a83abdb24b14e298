using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ssm.Infrastructure.Ha;

/// <summary>A cluster folder that is missing, unreadable or incomplete: the message says what to run.</summary>
public sealed class ClusterCredentialsException(string message) : Exception(message);

/// <summary>
/// The cluster's own certificate authority (ha_generate_keys, decision 0018): <c>ca.crt</c> holds the CAs every
/// member trusts (two while one is being rotated out), <c>ca.key</c> the private key of the newest, which signs.
/// Each node issues its own certificate from it at start; console verbs issue a short-lived one per call. Peers,
/// consoles, PostgreSQL servers and the witness are all recognised by a chain to these CAs and the role in the
/// certificate's OU, never by a shared secret on the wire.
/// </summary>
public sealed class ClusterCredentials
{
    public const string AuthoritiesFile = "ca.crt";
    public const string IssuerKeyFile = "ca.key";
    /// <summary>The key of a CA added by a rotation: trusted already, signing only after --switch.</summary>
    public const string NextKeyFile = "ca.next.key";
    public const string NodeRole = "node";
    public const string ConsoleRole = "console";
    public const string ServerRole = "server";
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private readonly X509Certificate2 _issuer;

    private ClusterCredentials(string directory, X509Certificate2Collection authorities, X509Certificate2 issuer)
    {
        Directory = directory;
        Authorities = authorities;
        _issuer = issuer;
    }

    public string Directory { get; }
    public X509Certificate2Collection Authorities { get; }
    public string AuthoritiesPath => Path.Combine(Directory, AuthoritiesFile);
    public string Fingerprint => _issuer.GetCertHashString(HashAlgorithmName.SHA256);

    public static ClusterCredentials Load(string? directory)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new ClusterCredentialsException("no cluster keys: run `ssm ha_generate_keys --out DIR` once, copy DIR to both nodes " +
                                                  "(readable by the service user only) and start each node with --cluster-keys DIR.");
        var full = Path.GetFullPath(directory);
        var authorities = Path.Combine(full, AuthoritiesFile);
        var key = Path.Combine(full, IssuerKeyFile);
        if (!File.Exists(authorities) || !File.Exists(key))
            throw new ClusterCredentialsException($"{full} does not hold {AuthoritiesFile} and {IssuerKeyFile}: run `ssm ha_generate_keys --out {full}` " +
                                                  "(or copy that folder from the node where it was made).");
        try
        {
            var bundle = new X509Certificate2Collection();
            bundle.ImportFromPemFile(authorities);
            if (bundle.Count == 0)
                throw new ClusterCredentialsException($"{authorities} holds no certificate: run `ssm ha_generate_keys --out {full}`.");
            using var signingKey = ECDsa.Create();
            signingKey.ImportFromPem(File.ReadAllText(key));
            var issuer = bundle.Cast<X509Certificate2>().FirstOrDefault(c => c.GetECDsaPublicKey() is { } pub && SameKey(pub, signingKey))
                         ?? throw new ClusterCredentialsException($"{key} does not belong to any CA in {authorities}: the folder is from two generations.");
            return new ClusterCredentials(full, bundle, issuer.CopyWithPrivateKey(signingKey));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ClusterCredentialsException($"cannot read the cluster keys in {full}: {ex.Message}");
        }
    }

    private static bool SameKey(ECDsa a, ECDsa b) =>
        a.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(b.ExportSubjectPublicKeyInfo());

    /// <summary>
    /// Makes a new CA in the folder. Without rotate, the folder's first CA, which signs. With rotate, the first step of
    /// a rotation: a new CA that every node trusts beside the old one, its key kept as ca.next.key; the old CA still
    /// signs until <see cref="SwitchToNext"/>. Files are written 0600 in a 0700 folder.
    /// </summary>
    public static string Generate(string directory, bool rotate)
    {
        var full = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(full);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(
            new X500DistinguishedName($"CN=SSM cluster CA {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss.fff}, O=SSM On-Prem HA"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(10));
        var pem = authority.ExportCertificatePem() + "\n";
        var authorities = Path.Combine(full, AuthoritiesFile);
        if (rotate)
        {
            // The key first, then the bundle: a node that sees the new bundle finds everything it refers to.
            WritePrivate(Path.Combine(full, NextKeyFile), key.ExportPkcs8PrivateKeyPem() + "\n");
            WritePrivate(authorities, File.ReadAllText(authorities) + pem);
        }
        else
        {
            WritePrivate(authorities, pem);
            WritePrivate(Path.Combine(full, IssuerKeyFile), key.ExportPkcs8PrivateKeyPem() + "\n");
        }
        return authority.GetCertHashString(HashAlgorithmName.SHA256);
    }

    /// <summary>The second step of a rotation: the CA added by --rotate signs from now on (both stay trusted).</summary>
    public static void SwitchToNext(string directory)
    {
        var full = Path.GetFullPath(directory);
        var next = Path.Combine(full, NextKeyFile);
        if (!File.Exists(next))
            throw new ClusterCredentialsException($"{full} holds no CA added by --rotate ({NextKeyFile}): run --rotate first.");
        WritePrivate(Path.Combine(full, IssuerKeyFile), File.ReadAllText(next));
        File.Delete(next);
    }

    /// <summary>The last step of a rotation, once every node presents a certificate of the new CA: only the signing CA stays trusted.</summary>
    public void RetireOldAuthorities() => WritePrivate(AuthoritiesPath, _issuer.ExportCertificatePem() + "\n");

    public static void WritePrivate(string path, string text) => PrivateFile.Write(path, text);

    /// <summary>
    /// A certificate signed by the cluster CA: CN is the name (PostgreSQL maps it to a role), OU the role
    /// (node, console or server), the addresses and names as subject alternative names (verify-full checks them).
    /// </summary>
    public X509Certificate2 Issue(string commonName, string role, IEnumerable<IPAddress> addresses, IEnumerable<string> dnsNames, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedName($"CN={commonName}, OU={role}, O=SSM On-Prem HA");
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            role == ConsoleRole ? [ClientAuthentication] : [ServerAuthentication, ClientAuthentication], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_issuer, true, false));
        var names = new SubjectAlternativeNameBuilder();
        var any = false;
        foreach (var address in addresses.Distinct())
        {
            names.AddIpAddress(address);
            any = true;
        }
        foreach (var name in dnsNames.Distinct())
        {
            names.AddDnsName(name);
            any = true;
        }
        if (any)
            request.CertificateExtensions.Add(names.Build());
        var notAfter = DateTimeOffset.UtcNow + lifetime;
        if (notAfter > _issuer.NotAfter)
            notAfter = _issuer.NotAfter;
        using var certificate = request.Create(_issuer, DateTimeOffset.UtcNow.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(16));
        return certificate.CopyWithPrivateKey(key);
    }

    /// <summary>A console verb's client certificate, made for one call and valid for ten minutes.</summary>
    public X509Certificate2 IssueConsole() =>
        Issue($"console {Environment.UserName}@{Environment.MachineName}", ConsoleRole, [], [], TimeSpan.FromMinutes(10));

    /// <summary>
    /// True when the certificate chains to one of the cluster's CAs and carries the role (any role when null).
    /// The chain is built against these CAs alone, never the machine's store.
    /// </summary>
    public bool Verify(X509Certificate2 certificate, string? role, out string problem)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (!chain.Build(certificate))
        {
            problem = "not signed by this cluster's CA (" + string.Join(", ", chain.ChainStatus.Select(s => s.Status)) + ")";
            return false;
        }
        var actual = RoleOf(certificate);
        if (role is not null && actual != role)
        {
            problem = $"a {actual ?? "role-less"} certificate where a {role} certificate is needed";
            return false;
        }
        problem = "";
        return true;
    }

    public static string? RoleOf(X509Certificate2 certificate) =>
        certificate.SubjectName.EnumerateRelativeDistinguishedNames()
            .FirstOrDefault(n => n.GetSingleElementType().Value == "2.5.4.11")?.GetSingleElementValue();

    public static void WriteCertificate(X509Certificate2 certificate, string certificatePath, string keyPath)
    {
        WritePrivate(certificatePath, certificate.ExportCertificatePem() + "\n");
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no private key");
        WritePrivate(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
    }
}
