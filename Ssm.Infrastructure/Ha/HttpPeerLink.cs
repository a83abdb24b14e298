using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// Peer calls over mutual TLS on the peer port: this node logs in with its cluster certificate and talks only to a
/// server whose certificate chains to the cluster CA, names the address called and says it is a node (decision 0018).
/// Connections stay open between calls, so a heartbeat costs no handshake.
/// </summary>
public sealed class HttpPeerLink(IHttpClientFactory clients) : IPeerLink
{
    public const string ClientName = "peer";

    // The same shape as the node's own endpoints: web defaults with enums as names.
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        TypeInfoResolver = JsonTypeInfoResolver.Combine(PeerJson.Default, new DefaultJsonTypeInfoResolver()),
    };

    /// <summary>A TLS client presenting the given certificate and trusting only servers of the given role in the cluster.</summary>
    public static SocketsHttpHandler CreateHandler(ClusterCredentials credentials, X509Certificate2 certificate, string serverRole) =>
        CreateHandler(() => credentials, () => certificate, serverRole);

    /// <summary>The same, reading the trusted CAs and the certificate to present at each handshake (they change with a rotation).</summary>
    public static SocketsHttpHandler CreateHandler(Func<ClusterCredentials> credentials, Func<X509Certificate2> certificate, string serverRole) => new()
    {
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
        // A connection made before a rotation ends within ten minutes, and the next one presents the new certificate.
        PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        SslOptions = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = SslProtocols.Tls13,
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate(),
            // The machine's store is not asked: the chain must lead to the cluster's CAs, and the name must match.
            RemoteCertificateValidationCallback = (_, presented, _, errors) =>
                (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0
                && presented is X509Certificate2 server && credentials().Verify(server, serverRole, out _),
        },
    };

    public async Task<PeerHello?> HeartbeatAsync(Uri peer, PeerHello self, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMilliseconds(400));
            using var response = await Client().PostAsJsonAsync(new Uri(peer, "/peer/heartbeat"), self, Json, timeout.Token);
            if (!response.IsSuccessStatusCode)
                return null;
            return await response.Content.ReadFromJsonAsync<PeerHello>(Json, timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException or AuthenticationException)
        {
            return null;
        }
    }

    public async Task<TResponse> CallAsync<TResponse>(Uri peer, string path, object body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var response = await Client().PostAsJsonAsync(new Uri(peer, path), body, Json, cts.Token);
        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(cts.Token);
            throw new InvalidOperationException($"peer {peer} refused {path}: {(int)response.StatusCode} {text}");
        }
        return (await response.Content.ReadFromJsonAsync<TResponse>(Json, cts.Token))!;
    }

    public Task<bool> DatabaseRefusesAsync(DatabaseEndpoint database, CancellationToken cancellationToken) =>
        RefusesAsync(database.Host, database.Port, cancellationToken);

    /// <summary>A TCP connection refused at once (RST): the host is up and nothing listens on the port. A timeout or any other error proves nothing.</summary>
    private static async Task<bool> RefusesAsync(string host, int port, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(150));
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(host, port, timeout.Token);
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// A health check on the peer port: it costs the handshake (half a second in a process that just started on two
    /// loaded cores) and leaves the connection in the pool, where the join's first call finds it.
    /// </summary>
    public void WarmUp(Uri peer) => _ = Task.Run(async () =>
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            using var response = await Client().GetAsync(new Uri(peer, "/health/live"), timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or AuthenticationException)
        {
            // The peer is down or not reachable yet: the join finds that out by itself.
        }
    });

    private HttpClient Client() => clients.CreateClient(ClientName);
}
