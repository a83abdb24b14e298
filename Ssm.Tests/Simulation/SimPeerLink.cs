using Ssm.Application.Ha;

namespace Ssm.Tests.Simulation;

/// <summary>
/// The peer API over the simulated network: a request crosses to the peer's host and runs on its node process; the
/// answer crosses back. A dead node's host refuses at once; a frozen node or a cut link answers nothing, and the
/// caller's timeout decides, as with HttpPeerLink.
/// </summary>
public sealed class SimPeerLink(SimWorld world, string host) : IPeerLink
{
    private static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromMilliseconds(400);

    public async Task<PeerHello?> HeartbeatAsync(Uri peer, PeerHello self, CancellationToken cancellationToken)
    {
        try
        {
            return await SendAsync<PeerHello>(peer, "/peer/heartbeat", self, HeartbeatTimeout, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    public Task<TResponse> CallAsync<TResponse>(Uri peer, string path, object body, TimeSpan timeout, CancellationToken cancellationToken) =>
        SendAsync<TResponse>(peer, path, body, timeout, cancellationToken);

    private async Task<TResponse> SendAsync<TResponse>(Uri peer, string path, object body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var target = world.NodeAt(peer.Host) ?? throw new HttpRequestException($"no such host {peer.Host}");
        var caller = world.Scheduler.CurrentProcess;
        var done = new TaskCompletionSource<TResponse>();
        if (world.Network.Rejects(host, target.Host))
        {
            await Task.Delay(world.Network.Latency(), world.Scheduler.Time, cancellationToken);
            throw new HttpRequestException("Connection refused");
        }
        world.Network.Send(host, target.Host, world.Scheduler.System, () =>
        {
            if (!target.Process.Alive)
            {
                // The host is up and refuses the port: positive evidence that no node process runs there.
                world.Network.Send(target.Host, host, caller, () => done.TrySetException(new HttpRequestException("Connection refused")));
                return;
            }
            world.Scheduler.Post(target.Process, () => _ = ServeAsync(target, path, body, caller, done));
        }, mayDuplicate: path != "/peer/heartbeat");
        using var deadline = new CancellationTokenSource(timeout, world.Scheduler.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        return await done.Task.WaitAsync(linked.Token);
    }

    /// <summary>
    /// Two connection attempts: each refused when a firewall rejects the link, or when the link is up and nothing listens
    /// (the node process dead; the PostgreSQL server dead). Silence, a cut or a frozen process, answers nothing in time.
    /// </summary>
    public async Task<bool> DatabaseRefusesAsync(DatabaseEndpoint database, CancellationToken cancellationToken)
    {
        var target = world.NodeAt(database.Host);
        if (target is null)
            return false;
        // The host's kernel answers for it: a refusal where nothing listens, an accept where a server does (frozen or
        // not); a cut answers nothing until the probe's 150 ms are up.
        var answered = world.Network.Rejects(host, target.Host)
                       || (world.Network.Reachable(host, target.Host) && world.Network.Reachable(target.Host, host));
        var refused = answered && (world.Network.Rejects(host, target.Host) || target.Database.Server is not { Alive: true });
        await Task.Delay(answered ? world.Network.Latency() * 2 : TimeSpan.FromMilliseconds(150), world.Scheduler.Time, cancellationToken);
        return refused;
    }

    private async Task ServeAsync<TResponse>(SimNode target, string path, object body, SimProcess caller, TaskCompletionSource<TResponse> done)
    {
        var supervisor = target.Supervisor;
        object? response;
        Exception? error = null;
        try
        {
            response = path switch
            {
                "/peer/heartbeat" => await supervisor.ReceiveHeartbeatAsync((PeerHello)body, CancellationToken.None),
                "/peer/promote" => await supervisor.AcceptHandoverAsync((HandoverRequest)body, CancellationToken.None),
                "/peer/join" => await supervisor.AcceptJoinAsync((JoinRequest)body, CancellationToken.None),
                "/peer/discard" => await DiscardAsync(target, (DiscardRequest)body),
                "/peer/standby-leaving" => await LeavingAsync(target, (PeerHello)body),
                _ => throw new InvalidOperationException($"404 {path}"),
            };
        }
        catch (Exception ex)
        {
            response = null;
            error = new InvalidOperationException($"peer {target.Name} refused {path}: {ex.Message}");
        }
        world.Network.Send(target.Host, host, caller, () =>
        {
            if (error is not null)
                done.TrySetException(error);
            else
                done.TrySetResult((TResponse)response!);
        });
    }

    private static async Task<object> DiscardAsync(SimNode target, DiscardRequest request)
    {
        await target.Supervisor.AcceptDiscardAsync(request, CancellationToken.None);
        return new JoinReply(target.Name, target.Host, 5432);
    }

    private static async Task<object> LeavingAsync(SimNode target, PeerHello hello)
    {
        await target.Supervisor.AcceptStandbyLeavingAsync(hello.Node, CancellationToken.None);
        return target.Supervisor.Hello();
    }
}
