using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Application.Certificates;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Domain.Certificates;

namespace Ssm.Infrastructure.Certificates;

/// <summary>
/// The certificate the node's HTTPS port presents: the one CSC signed for the Host Common Name, read
/// from the replicated database (so both nodes present the same one and a failover changes nothing a
/// client sees); until there is one, a self-signed certificate for the node's own address, as SSM
/// On-Prem ships. Re-read when a certificate changes here and every few seconds (a standby learns of a
/// new certificate only through replication).
/// </summary>
public sealed class ServerCertificateProvider(IDocumentStore documents, ChangeNotifier notifier, IOptions<NodeOptions> node,
    ILogger<ServerCertificateProvider> logger) : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(3);
    private X509Certificate2? _current;
    // Handshakes run in parallel: one self-signed certificate per process, so a client that pinned it keeps seeing it.
    private readonly Lazy<X509Certificate2> _selfSigned = new(() => CreateSelfSigned(node.Value.Listen));
    private string? _loadedFor;

    public X509Certificate2 Current => _current ?? _selfSigned.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not on the start-up path: the first Marten query of a process compiles its storage code, which
        // would hold up the cluster's rejoin and the web host by a second.
        await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
        using var changed = new SemaphoreSlim(0);
        void OnChanged(ChangeTopic topic)
        {
            if (topic == ChangeTopic.Certificates)
                changed.Release();
        }
        notifier.Changed += OnChanged;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await RefreshAsync(stoppingToken);
                await changed.WaitAsync(Every, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            notifier.Changed -= OnChanged;
        }
    }

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var query = documents.QuerySession();
            var stored = await query.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken);
            if (stored?.CertificatePem is not { } pem || stored.SignedFor is null)
                return;
            var version = $"{stored.SignedFor}|{stored.SignedAt:O}";
            if (version == _loadedFor)
                return;
            using var withKey = X509Certificate2.CreateFromPem(pem, stored.PrivateKeyPem);
            // SslStream on Linux wants a key it can use as a persisted one: round-trip through PKCS#12.
            _current = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
            _loadedFor = version;
            logger.LogInformation("HTTPS now presents the certificate for {Name}, signed by {Issuer}, valid until {NotAfter:u}",
                stored.SignedFor, _current.Issuer, _current.NotAfter.ToUniversalTime());
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // No database yet (a node starting, a stopped standby): keep what is presented now.
            logger.LogDebug("Server certificate not refreshed: {Error}", ex.Message);
        }
    }

    private static X509Certificate2 CreateSelfSigned(string listenUrl)
    {
        var host = Uri.TryCreate(listenUrl, UriKind.Absolute, out var listen) ? listen.Host : "localhost";
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}, O=SSM On-Prem (self-signed until CSC signs)", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(SignedCertificates.SubjectAlternativeName(host));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}
