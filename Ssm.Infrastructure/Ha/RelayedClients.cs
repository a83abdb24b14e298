using System.Collections.Concurrent;
using System.Net;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// Who is really behind each connection the loopback VIP relays. The relay connects to the node from the node's own
/// address, so without this every product would be one source to the rate limit per source and to the logs. The
/// relay records the client under the local end of its connection to the node before it connects; the node's
/// listeners give the connection the client's address back (NodeHost).
/// </summary>
public static class RelayedClients
{
    private static readonly ConcurrentDictionary<IPEndPoint, EndPoint> ClientByRelay = new();

    public static void Add(IPEndPoint relay, EndPoint client) => ClientByRelay[relay] = client;

    public static void Remove(IPEndPoint relay) => ClientByRelay.TryRemove(relay, out _);

    /// <summary>The relayed client, when <paramref name="remote"/> is the relay's end of a connection; else null.</summary>
    public static EndPoint? ClientOf(EndPoint? remote) =>
        remote is IPEndPoint relay && ClientByRelay.TryGetValue(relay, out var client) ? client : null;
}
