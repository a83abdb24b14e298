using Ssm.Application.Ha;

namespace Ssm.Tests.Simulation;

/// <summary>
/// A bug planted on purpose, to show the checks catch what they claim to: the simulator must find a violation with
/// it (SimulationTests), and none without.
/// </summary>
public enum SimMutation
{
    None,
    /// <summary>A crash takeover no longer asks whether the witness names the node as the sync standby (this session's fix undone).</summary>
    TakeoverIgnoresSyncRecord,
    /// <summary>An active that degrades to asynchronous leaves its standby named at the witness.</summary>
    DegradeKeepsSyncRecord,
}

/// <summary>The witness's lease row and "seen" table, on the witness's clock (the scheduler's).</summary>
public sealed class SimLeaseTable
{
    public long Epoch { get; set; }
    public string Holder { get; set; } = "";
    public long ExpiresAt { get; set; }
    public string? SyncStandby { get; set; }
    public bool Exists { get; set; }
    public Dictionary<string, long> Seen { get; } = [];
    /// <summary>Every epoch the lease took, in order (the "epochs never go back" check).</summary>
    public List<long> Epochs { get; } = [];
}

/// <summary>
/// One node's client of the witness: each call crosses the network to host W and back; an unreachable witness
/// fails after the connection timeout (1 s, as WitnessLease's), or sooner if the caller cancels.
/// </summary>
public sealed class SimWitness(SimWorld world, string host) : IWitness
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(1);
    private SimLeaseTable Table => world.Lease;
    private long Now => world.Scheduler.NowTicks;

    public bool Configured { get; private set; }

    public void Configure(string? connectionString) => Configured = !string.IsNullOrWhiteSpace(connectionString);

    private async Task<T> Call<T>(Func<T> effect, CancellationToken cancellationToken)
    {
        if (!Configured)
            throw new InvalidOperationException("no witness is configured");
        var caller = world.Scheduler.CurrentProcess;
        var done = new TaskCompletionSource<T>();
        world.Network.Send(host, "W", world.WitnessProcess, () =>
        {
            T result;
            try
            {
                result = effect();
            }
            catch (Exception ex)
            {
                world.Network.Send("W", host, caller, () => done.TrySetException(ex));
                return;
            }
            world.Network.Send("W", host, caller, () => done.TrySetResult(result));
        });
        try
        {
            return await done.Task.WaitAsync(CallTimeout, world.Scheduler.Time, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException("witness: timeout while connecting");
        }
    }

    private void Took(long epoch)
    {
        if (Table.Epochs.Count == 0 || Table.Epochs[^1] != epoch)
            Table.Epochs.Add(epoch);
    }

    public Task InitializeAsync(string cluster, string holder, long epoch, TimeSpan ttl, CancellationToken cancellationToken) =>
        Call(() =>
        {
            Table.Exists = true;
            Table.Epoch = epoch;
            Table.Holder = holder;
            Table.ExpiresAt = Now + ttl.Ticks;
            Table.SyncStandby = null;
            Took(epoch);
            return 0;
        }, cancellationToken);

    public Task<LeaseState?> ReadAsync(string cluster, CancellationToken cancellationToken) =>
        Call(() => Table.Exists
            ? new LeaseState(Table.Epoch, Table.Holder, Table.ExpiresAt < Now, TimeSpan.FromTicks(Table.ExpiresAt - Now).TotalMilliseconds, Table.SyncStandby)
            : null, cancellationToken);

    public Task<bool> TryAcquireAsync(string cluster, string node, long expectedEpoch, long newEpoch, TimeSpan ttl, CancellationToken cancellationToken) =>
        Call(() =>
        {
            if (!Table.Exists || Table.Epoch != expectedEpoch || (Table.Holder != node && Table.ExpiresAt >= Now))
                return false;
            if (newEpoch != Table.Epoch)
                Table.SyncStandby = null;
            (Table.Epoch, Table.Holder, Table.ExpiresAt) = (newEpoch, node, Now + ttl.Ticks);
            Took(newEpoch);
            world.Trace($"witness: lease epoch {newEpoch} to {node}");
            return true;
        }, cancellationToken);

    public Task<bool> TryTakeOverAsync(string cluster, string node, long expectedEpoch, bool holderGone, TimeSpan ttl, CancellationToken cancellationToken) =>
        Call(() =>
        {
            if (!Table.Exists || Table.Epoch != expectedEpoch || (Table.ExpiresAt >= Now && !holderGone) || Table.Holder == node)
                return false;
            if (Table.SyncStandby != node && world.Mutation != SimMutation.TakeoverIgnoresSyncRecord)
                return false;
            if (Table.ExpiresAt >= Now)
            {
                world.EarlyTakeovers++;
                if (world.NodeAt(Table.Holder) is { Process.Alive: true })
                    world.EarlyTakeoversWhileHolderAlive++;
            }
            (Table.Epoch, Table.Holder, Table.ExpiresAt, Table.SyncStandby) = (expectedEpoch + 1, node, Now + ttl.Ticks, null);
            Took(expectedEpoch + 1);
            world.Trace($"witness: lease epoch {expectedEpoch + 1} to {node} (its sync standby{(holderGone ? ", holder gone" : "")})");
            return true;
        }, cancellationToken);

    public Task<bool> SetSyncStandbyAsync(string cluster, string holder, long epoch, string? standby, CancellationToken cancellationToken) =>
        Call(() =>
        {
            if (!Table.Exists || Table.Holder != holder || Table.Epoch != epoch)
                return false;
            if (standby is null && world.Mutation == SimMutation.DegradeKeepsSyncRecord)
                return true;
            Table.SyncStandby = standby;
            world.Trace($"witness: {holder} records sync standby {standby ?? "none"}");
            return true;
        }, cancellationToken);

    public Task<bool> RenewAsync(string cluster, string node, long epoch, TimeSpan ttl, CancellationToken cancellationToken) =>
        Call(() =>
        {
            if (!Table.Exists || Table.Holder != node || Table.Epoch != epoch)
                return false;
            Table.ExpiresAt = Now + ttl.Ticks;
            return true;
        }, cancellationToken);

    public Task<bool> TransferAsync(string cluster, string from, string to, long epoch, TimeSpan ttl, CancellationToken cancellationToken) =>
        Call(() =>
        {
            if (!Table.Exists || Table.Holder != from || Table.Epoch != epoch)
                return false;
            (Table.Epoch, Table.Holder, Table.ExpiresAt, Table.SyncStandby) = (epoch + 1, to, Now + ttl.Ticks, null);
            Took(epoch + 1);
            world.Trace($"witness: lease epoch {epoch + 1} handed from {from} to {to}");
            return true;
        }, cancellationToken);

    public Task ReportSeenAsync(string cluster, string node, CancellationToken cancellationToken) =>
        Call(() => Table.Seen[node] = Now, cancellationToken);

    public Task<TimeSpan?> LastSeenAsync(string cluster, string node, CancellationToken cancellationToken) =>
        Call(() => Table.Seen.TryGetValue(node, out var seen) ? TimeSpan.FromTicks(Now - seen) : (TimeSpan?)null, cancellationToken);
}
