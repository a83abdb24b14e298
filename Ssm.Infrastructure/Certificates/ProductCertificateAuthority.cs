using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Marten;
using Ssm.Application.Common;
using Ssm.Application.Registration;
using Ssm.Domain.Registration;

namespace Ssm.Infrastructure.Certificates;

/// <summary>
/// Signs products' ID certificates with the cluster's CA. The CA is made once, by whichever node first needs
/// it, and stored in the replicated database; a node keeps the loaded key, which never changes afterwards.
/// </summary>
public sealed class ProductCertificateAuthority(IDocumentStore documents, IClock clock, IStorageErrors storage) : IProductCertificateAuthority, IDisposable
{
    private readonly SemaphoreSlim _loading = new(1, 1);
    private Loaded? _ca;

    private sealed record Loaded(X509Certificate2 Certificate, ECDsa Key, string Pem);

    public async Task<IssuedCertificate> IssueAsync(byte[] publicKey, string udi, Guid instanceId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var ca = await LoadAsync(cancellationToken);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName("SSM On-Prem product");
        subject.AddCommonName(udi);
        subject.Add("2.5.4.5", instanceId.ToString()); // serialNumber: the instance, for support staff reading the certificate
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)Math.Max(1, serial[0] & 0x7F); // positive, and no leading zero that DER would have to drop
        // Whole seconds, as the certificate holds them, so that the stored expiry is the certificate's.
        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var notAfter = issuedAt + ProductAuthority.IdCertificateLifetime;
        var der = CertificateEncoder.Sign(ca.Certificate.SubjectName, ca.Key, subject.Build(), publicKey, serial, issuedAt.AddMinutes(-5), notAfter,
            IdCertificateExtensions);
        return new IssuedCertificate(PemEncoding.WriteString("CERTIFICATE", der), Convert.ToHexString(serial), notAfter);
    }

    // An end entity's certificate for signing requests (client authentication), never a CA.
    private static readonly X509Extension[] IdCertificateExtensions =
    [
        new X509BasicConstraintsExtension(false, false, 0, true),
        new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true),
        new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false),
    ];

    public byte[] KeyOfRequest(string csr) => ProductKeyRequests.VerifiedKeyOf(csr);

    public async Task<string> CertificatePemAsync(CancellationToken cancellationToken) => (await LoadAsync(cancellationToken)).Pem;

    private async Task<Loaded> LoadAsync(CancellationToken cancellationToken)
    {
        if (_ca is { } loaded)
            return loaded;
        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_ca is not null)
                return _ca;
            await using var session = documents.LightweightSession();
            var stored = await session.LoadAsync<ProductAuthority>(ProductAuthority.SingletonId, cancellationToken);
            if (stored is null)
            {
                stored = Create(clock.UtcNow);
                session.Insert(stored);
                try
                {
                    await session.SaveChangesAsync(cancellationToken);
                }
                catch (Exception ex) when (storage.IsUniqueViolation(ex) || ex is JasperFx.DocumentAlreadyExistsException)
                {
                    // The other node made it first: use that one.
                    await using var again = documents.QuerySession();
                    stored = await again.LoadAsync<ProductAuthority>(ProductAuthority.SingletonId, cancellationToken)
                        ?? throw new InvalidOperationException("The product CA vanished while it was being created.");
                }
            }
            var certificate = X509Certificate2.CreateFromPem(stored.CertificatePem);
            var key = ECDsa.Create();
            key.ImportFromPem(stored.PrivateKeyPem);
            return _ca = new Loaded(certificate, key, stored.CertificatePem);
        }
        finally
        {
            _loading.Release();
        }
    }

    private static ProductAuthority Create(DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=SSM On-Prem Product CA, O=SSM On-Prem HA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(20));
        return new ProductAuthority
        {
            CertificatePem = certificate.ExportCertificatePem(),
            PrivateKeyPem = key.ExportPkcs8PrivateKeyPem(),
            CreatedAt = now,
        };
    }

    public void Dispose()
    {
        _ca?.Key.Dispose();
        _ca?.Certificate.Dispose();
        _loading.Dispose();
    }
}
