using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ssm.Tests.Support;

/// <summary>
/// The test clients' trust in a node's HTTPS port: exactly the certificates read from the node's own
/// connections (self-signed until CSC signs), plus the CSC root once a test has CSC sign one. Nothing else
/// passes: no blanket "accept any certificate".
/// </summary>
public sealed class PinnedCertificates
{
    private readonly ConcurrentDictionary<string, byte> _pinned = new();
    private readonly ConcurrentBag<X509Certificate2> _roots = [];

    /// <summary>Connects to the port and pins the certificate it presents now.</summary>
    public async Task PinAsync(string host, int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port);
        X509Certificate? presented = null;
        await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
        {
            presented = certificate;
            return true;
        });
        await tls.AuthenticateAsClientAsync(host);
        _pinned[ThumbprintOf(presented!)] = 0;
    }

    public void TrustRoot(X509Certificate2 root) => _roots.Add(root);

    public bool Accepts(X509Certificate? certificate, SslPolicyErrors errors) =>
        certificate is not null && (_pinned.ContainsKey(ThumbprintOf(certificate)) || _roots.Any(root => CscEmulatorProcess.TrustedBy(root, certificate, errors)));

    public SocketsHttpHandler Handler(bool cookies = true) => new()
    {
        UseCookies = cookies,
        CookieContainer = new System.Net.CookieContainer(),
        AllowAutoRedirect = false,
        SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) => Accepts(certificate, errors) },
    };

    private static string ThumbprintOf(X509Certificate certificate) => Convert.ToHexString(SHA256.HashData(certificate.GetRawCertData()));
}
