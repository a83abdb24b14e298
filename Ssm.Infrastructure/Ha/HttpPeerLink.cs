using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>Peer calls over real HTTP, each carrying the cluster key.</summary>
public sealed class HttpPeerLink(IHttpClientFactory clients, ClusterKey key) : IPeerLink
{
    public const string KeyHeader = "X-Ssm-Cluster-Key";
    public const string ClientName = "peer";

    // The same shape as the node's own endpoints: web defaults with enums as names.
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        TypeInfoResolver = JsonTypeInfoResolver.Combine(PeerJson.Default, new DefaultJsonTypeInfoResolver()),
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
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException)
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

    private HttpClient Client()
    {
        var client = clients.CreateClient(ClientName);
        client.DefaultRequestHeaders.Remove(KeyHeader);
        client.DefaultRequestHeaders.Add(KeyHeader, key.Value);
        return client;
    }
}
