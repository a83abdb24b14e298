using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Ssm.Application.Registration;
using Ssm.Domain.Certificates;
using Ssm.Domain.Products;
using Ssm.Web.Endpoints;

namespace Ssm.ProductSimulator;

/// <summary>What a product keeps after registering: its key, its ID certificate and where it registered.</summary>
public sealed record ProductIdentity(Guid InstanceId, string Server, string Pid, string SerialNumber, string PrivateKeyPem, string IdCertificate,
    DateTimeOffset NotAfter, DateTimeOffset RenewAfter);

/// <summary>
/// A product's ECDSA P-256 key pair and the CSR that proves it holds the key. A device makes them once, before it
/// registers; the benchmark makes them before it starts the clock, so that it times the server rather than key generation.
/// </summary>
public sealed record ProductKey(string PrivateKeyPem, string Csr)
{
    public static ProductKey Create(string pid, string serialNumber)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new ProductKey(key.ExportPkcs8PrivateKeyPem(),
            new CertificateRequest($"CN={pid}:{serialNumber}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem());
    }
}

/// <summary>The server refused the request, with the code and message of docs/smart-transport.md.</summary>
public sealed class ProductRefusedException(int status, string code, string message) : Exception($"{status} {code}: {message}")
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string Reason { get; } = message;
}

/// <summary>
/// Acts as a network product on Smart Transport: verifies the server's certificate chain to the CSC root and its
/// host name, registers with a token and a fresh P-256 key, then signs every request with that key.
/// </summary>
public sealed class ProductClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _host;
    // A server given with a path (https://VIP/Transportgateway/services/DeviceRequestHandler, as devices are configured)
    // is posted to as it is; a bare https://VIP/ means Smart Transport.
    private readonly string _path;

    /// <summary>A connect callback that connects from <paramref name="source"/>: one machine acting as many products.</summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectFrom(System.Net.IPAddress source) =>
        async (context, cancellationToken) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new System.Net.IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };

    /// <param name="source">The local address to connect from (a fleet of products on one test machine); null: the system's choice.</param>
    public ProductClient(Uri server, X509Certificate2 trustedRoot, int maxConnections = 16, System.Net.IPAddress? source = null)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(trustedRoot);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy },
            MaxConnectionsPerServer = maxConnections,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        if (source is not null)
            handler.ConnectCallback = ConnectFrom(source);
        _http = new HttpClient(handler) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };
        Server = server;
        _host = HostNameRules.Normalize(server.IdnHost.Trim('[', ']'));
        _path = server.AbsolutePath.TrimEnd('/') is { Length: > 0 } path ? path : SmartTransportEndpoints.Path;
    }

    public Uri Server { get; }

    /// <param name="key">The product's key pair and CSR, if it has them already; else they are made here.</param>
    public async Task<ProductIdentity> RegisterAsync(string token, string pid, string serialNumber, string productName, string productType = "switch",
        string? hostName = null, bool force = false, bool exportControlled = false, ProductKey? key = null, CancellationToken cancellationToken = default)
    {
        key ??= ProductKey.Create(pid, serialNumber);
        var csr = key.Csr;
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            request = "register",
            token,
            udi = new { pid, sn = serialNumber },
            productName,
            productType,
            hostName = hostName ?? productName,
            csr,
            exportControlled,
            force,
        }, SmartTransportEndpoints.Json);
        var answer = await SendAsync(body, signer: null, cancellationToken);
        return new ProductIdentity(answer.GetProperty("instanceId").GetGuid(), Server.ToString(), pid, serialNumber, key.PrivateKeyPem,
            answer.GetProperty("idCertificate").GetString()!, answer.GetProperty("notAfter").GetDateTimeOffset(),
            answer.GetProperty("renewAfter").GetDateTimeOffset());
    }

    public async Task<ProductIdentity> RenewAsync(ProductIdentity identity, CancellationToken cancellationToken = default)
    {
        var answer = await SignedAsync(identity, new { request = "renew" }, cancellationToken);
        return identity with
        {
            IdCertificate = answer.GetProperty("idCertificate").GetString()!,
            NotAfter = answer.GetProperty("notAfter").GetDateTimeOffset(),
            RenewAfter = answer.GetProperty("renewAfter").GetDateTimeOffset(),
        };
    }

    public Task<JsonElement> ReportAsync(ProductIdentity identity, IEnumerable<UsageReport> reports, CancellationToken cancellationToken = default) =>
        SignedAsync(identity, new { request = "report", reports }, cancellationToken);

    public Task<JsonElement> AuthorizeAsync(ProductIdentity identity, IEnumerable<EntitlementRequest> entitlements,
        CancellationToken cancellationToken = default) =>
        SignedAsync(identity, new { request = "authorize", entitlements }, cancellationToken);

    public Task<JsonElement> DeregisterAsync(ProductIdentity identity, CancellationToken cancellationToken = default) =>
        SignedAsync(identity, new { request = "deregister" }, cancellationToken);

    /// <summary>Posts any body as-is (for tests of bad input): the status and the raw answer.</summary>
    public async Task<(int Status, string Body)> PostRawAsync(HttpContent content, CancellationToken cancellationToken = default)
    {
        using var response = await _http.PostAsync(_path, content, cancellationToken);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    private Task<JsonElement> SignedAsync(ProductIdentity identity, object request, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request, SmartTransportEndpoints.Json);
        return SendAsync(body, identity, cancellationToken);
    }

    private async Task<JsonElement> SendAsync(byte[] body, ProductIdentity? signer, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, _path) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (signer is not null)
        {
            using var key = ECDsa.Create();
            key.ImportFromPem(signer.PrivateKeyPem);
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            message.Headers.Add(SmartTransportEndpoints.InstanceHeader, signer.InstanceId.ToString());
            message.Headers.Add(SmartTransportEndpoints.TimestampHeader, now.ToString(System.Globalization.CultureInfo.InvariantCulture));
            message.Headers.Add(SmartTransportEndpoints.SignatureHeader, RequestSignature.Sign(key, now, _host, body));
        }
        using var response = await _http.SendAsync(message, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        JsonElement answer;
        try
        {
            answer = JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new ProductRefusedException((int)response.StatusCode, "NOT_JSON", text.Length > 200 ? text[..200] : text);
        }
        if (!response.IsSuccessStatusCode)
        {
            var error = answer.TryGetProperty("error", out var e) ? e : default;
            throw new ProductRefusedException((int)response.StatusCode,
                error.ValueKind == JsonValueKind.Object ? error.GetProperty("code").GetString()! : "HTTP_" + (int)response.StatusCode,
                error.ValueKind == JsonValueKind.Object ? error.GetProperty("message").GetString()! : text);
        }
        return answer;
    }

    public void Dispose() => _http.Dispose();
}
