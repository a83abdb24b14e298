namespace Ssm.Domain.Certificates;

/// <summary>
/// The Host Common Name and the server certificate CSC signed for it (one per cluster, replicated, so a
/// failover changes nothing a product sees). Setting a new name makes a fresh key and CSR and marks the
/// certificate stale until the next synchronization has CSC sign it.
/// </summary>
public sealed class ServerCertificate
{
    public const string SingletonId = "server-certificate";

    public string Id { get; set; } = SingletonId;
    public string HostCommonName { get; set; } = "";
    public DateTimeOffset NameSetAt { get; set; }
    public string NameSetBy { get; set; } = "";
    /// <summary>PKCS#8 PEM of the key the CSR and the certificate belong to.</summary>
    public string PrivateKeyPem { get; set; } = "";
    public string CsrPem { get; set; } = "";
    public string? CertificatePem { get; set; }
    public List<string> ChainPem { get; set; } = [];
    /// <summary>The name the current certificate was signed for (null before the first signing).</summary>
    public string? SignedFor { get; set; }
    public DateTimeOffset? NotAfter { get; set; }
    public DateTimeOffset? SignedAt { get; set; }

    public bool IsStale => CertificatePem is null || SignedFor != HostCommonName;

    public void ChangeName(string name, string privateKeyPem, string csrPem, string by, DateTimeOffset now)
    {
        if (!HostNameRules.IsValid(name, dualStack: false) && !HostNameRules.IsValid(name, dualStack: true))
            throw new DomainException(HostNameRules.Problem(name, dualStack: false) ?? $"'{name}' is not a valid Host Common Name.");
        HostCommonName = HostNameRules.Normalize(name);
        PrivateKeyPem = privateKeyPem;
        CsrPem = csrPem;
        NameSetAt = now;
        NameSetBy = by;
    }

    public void Signed(string certificatePem, IEnumerable<string> chainPem, string signedFor, DateTimeOffset notAfter, DateTimeOffset now)
    {
        if (signedFor != HostCommonName)
            throw new DomainException($"CSC signed a certificate for {signedFor}, but the Host Common Name is now {HostCommonName}.");
        CertificatePem = certificatePem;
        ChainPem = [.. chainPem];
        SignedFor = signedFor;
        NotAfter = notAfter;
        SignedAt = now;
    }
}
