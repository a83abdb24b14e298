using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// The loopback VIP where the kernel cannot redirect it (not root, no nft): the holder binds VIP:port and relays
/// each connection to its own listen address. Only one process can bind the address, which is the lock
/// (HA-NOTES: 11–17 ms); a frozen holder keeps it until it thaws (decision 0005, 0021).
/// </summary>
public sealed class LoopbackRelay(NodeOptions node, ILogger logger) : IAsyncDisposable
{
    private readonly Uri _own = new(node.Listen);
    // The HTTP port, and the HTTPS port when the node has one: each relayed to the same port of the node.
    private readonly int[] _ports = LoopbackVip.PortsOf(node);
    private readonly Lock _lock = new();
    private readonly List<TcpListener> _listeners = [];
    private CancellationTokenSource? _stop;
    private readonly List<TcpClient> _connections = [];
    // Acquire and release never interleave: a release during a bind retry must win.
    private readonly SemaphoreSlim _gate = new(1, 1);

    public string? Address { get; private set; }
    public bool Held => _listeners.Count > 0;

    public async Task AcquireAsync(string address, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await AcquireLockedAsync(address, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task AcquireLockedAsync(string address, CancellationToken cancellationToken)
    {
        if (Held)
            return;
        var ip = IPAddress.Parse(address);
        var bound = new List<TcpListener>();
        // Briefly: a holder that is frozen keeps the address; the heartbeat retries until it lets go.
        var deadline = DateTime.UtcNow.AddMilliseconds(300);
        foreach (var port in _ports)
        {
            while (true)
            {
                var listener = new TcpListener(ip, port);
                try
                {
                    listener.Start(512);
                    bound.Add(listener);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline)
                {
                    // The previous holder may still be letting go.
                    listener.Dispose();
                    await Task.Delay(5, cancellationToken);
                }
                catch (SocketException)
                {
                    listener.Dispose();
                    foreach (var other in bound)
                        other.Stop();
                    throw;
                }
            }
        }
        _listeners.AddRange(bound);
        Address = address;
        _stop = new CancellationTokenSource();
        foreach (var listener in bound)
            _ = AcceptLoopAsync(listener, ((IPEndPoint)listener.LocalEndpoint).Port, _stop.Token);
        logger.LogInformation("VIP {Address}:{Port} acquired", address, string.Join(",", _ports));
    }

    public async Task ReleaseAsync()
    {
        await _gate.WaitAsync();
        try
        {
            ReleaseLocked();
        }
        finally
        {
            _gate.Release();
        }
    }

    private void ReleaseLocked()
    {
        if (!Held)
            return;
        _stop?.Cancel();
        foreach (var listener in _listeners)
            listener.Stop();
        _listeners.Clear();
        lock (_lock)
        {
            foreach (var connection in _connections)
                connection.Dispose();
            _connections.Clear();
        }
        logger.LogInformation("VIP {Address}:{Port} released", Address, string.Join(",", _ports));
    }

    private async Task AcceptLoopAsync(TcpListener listener, int port, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(cancellationToken);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }
            _ = RelayAsync(client, port, cancellationToken);
        }
    }

    private async Task RelayAsync(TcpClient client, int port, CancellationToken cancellationToken)
    {
        // Bound before it connects, so that the node can tell whom it relays from the first byte (RelayedClients).
        using var upstream = IPAddress.TryParse(_own.Host, out var own) ? new TcpClient(new IPEndPoint(own, 0)) : new TcpClient();
        upstream.NoDelay = true;
        client.NoDelay = true;
        var relay = upstream.Client.LocalEndPoint as IPEndPoint;
        if (relay is not null && client.Client.RemoteEndPoint is { } origin)
            RelayedClients.Add(relay, origin);
        lock (_lock)
            _connections.Add(client);
        try
        {
            await upstream.ConnectAsync(_own.Host, port, cancellationToken);
            var a = client.GetStream();
            var b = upstream.GetStream();
            await Task.WhenAny(a.CopyToAsync(b, cancellationToken), b.CopyToAsync(a, cancellationToken));
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            if (relay is not null)
                RelayedClients.Remove(relay);
            lock (_lock)
                _connections.Remove(client);
            client.Dispose();
        }
    }

    public async ValueTask DisposeAsync() => await ReleaseAsync();
}
