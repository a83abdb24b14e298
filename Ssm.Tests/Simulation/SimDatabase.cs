using Ssm.Application.Ha;

namespace Ssm.Tests.Simulation;

/// <summary>
/// A node's PostgreSQL as the simulator sees it: a server process that can be killed or frozen, its data (the list
/// of committed write ids, so "has every acknowledged write" is a set question), whether the data is a standby's,
/// where it streams from and which standby its commits wait for (synchronous_commit = remote_apply).
/// </summary>
public sealed class SimDatabase(SimWorld world, string host, string nodeName) : IDatabaseNode
{
    private static readonly TimeSpan ReceiverTimeout = TimeSpan.FromSeconds(5);
    private readonly List<(long Position, TaskCompletionSource Done)> _waiting = [];
    private readonly List<Action<Exception>> _inFlight = [];

    public string Host => host;
    public string NodeName => nodeName;
    public SimProcess? Server { get; private set; }
    public bool DataExists { get; private set; }
    public bool StandbyData { get; private set; }
    public SimDatabase? Source { get; private set; }
    public bool Connected { get; private set; }
    private long _lastContact;
    public string? SyncName { get; private set; }
    public List<long> History { get; private set; } = [];
    public int Timeline { get; private set; } = 1;
    /// <summary>Multiplies every operation's duration (a slow disk).</summary>
    public double Slowness { get; set; } = 1;

    public bool Running => Server is { Alive: true };
    public bool Frozen => Server is { Frozen: true };
    private int _guard;

    /// <summary>
    /// The database guard (decisions 0040, 0042), a process of its own: it looks at the node that turned it on every
    /// 1.5 pets, and kills this server once that node is frozen or dead (a simulated node is never merely slow, so the
    /// guard's longer limit for a silent running node does not arise). Modelled because its kill is what lets the
    /// standby take over a frozen active on evidence.
    /// </summary>
    public void GuardWhileActive(bool on)
    {
        var guard = ++_guard;
        if (!on)
            return;
        var node = world.Scheduler.CurrentProcess;
        var look = SimNode.Options().HeartbeatInterval / 4 * 1.5;
        void Look()
        {
            if (guard != _guard)
                return;
            if (!node.Alive || node.Frozen)
            {
                _guard++;
                world.Trace($"{nodeName}: database guard kills PostgreSQL (the node is {(node.Alive ? "stopped" : "gone")})");
                KillServer();
                return;
            }
            world.Scheduler.After(world.Scheduler.System, look, Look);
        }
        world.Scheduler.After(world.Scheduler.System, look, Look);
    }

    /// <summary>What the node reads from /proc: a frozen server is stopped (SIGSTOP), a killed one gone; a slow one is neither.</summary>
    public bool IsStoppedOrGone => Frozen || (DataExists && !Running);
    public bool InRecovery => Running && StandbyData;

    /// <summary>Commits here would be acknowledged now or as soon as the process thaws (the two-writer check).</summary>
    public bool CanAcknowledge => Running && !StandbyData &&
        (SyncName is null || world.Databases.Any(d => d.Source == this && d.Connected && d.NodeName == SyncName && d.Running));

    public bool IsManaged => true;
    public DatabaseEndpoint Endpoint => new(host, 5432);
    public bool IsInitialized => DataExists;

    private TimeSpan Ms(double low, double high) =>
        TimeSpan.FromMilliseconds((low + world.Scheduler.Random.NextDouble() * (high - low)) * Slowness);

    // ------------------------------------------------------------------ the simulator's side

    public void CreateEmpty()
    {
        DataExists = true;
        History = [];
    }

    public void KillServer()
    {
        if (Server is null)
            return;
        Server.Kill();
        Server = null;
        Lost(new InvalidOperationException($"database on {host}: server closed the connection unexpectedly"));
    }

    private void Lost(Exception error)
    {
        foreach (var fail in _inFlight.ToList())
            fail(error);
        _inFlight.Clear();
        foreach (var (_, done) in _waiting)
            done.TrySetException(error);
        _waiting.Clear();
    }

    /// <summary>Moves WAL along the streams that flow, and releases the commits their standby has applied.</summary>
    public void Settle()
    {
        if (Running && StandbyData && Source is { } source)
        {
            var flowing = !Frozen && source.Running && !source.Frozen && world.Network.Reachable(host, source.Host) && world.Network.Reachable(source.Host, host);
            if (!source.Running)
                Connected = false;   // the server's host answers with a reset
            else if (flowing)
            {
                if (IsPrefixOf(History, source.History))
                {
                    if (History.Count != source.History.Count)
                        History = [.. source.History];
                    Connected = true;
                    _lastContact = world.Scheduler.NowTicks;
                }
                else
                    Connected = false;   // diverged: needs a rewind
            }
            else if (Connected && world.Scheduler.NowTicks - _lastContact > ReceiverTimeout.Ticks)
                Connected = false;
        }
        else
            Connected = false;
        if (_waiting.Count > 0 && Running && !Frozen)
            foreach (var item in _waiting.Where(w => Acknowledged(w.Position)).ToList())
            {
                _waiting.Remove(item);
                item.Done.TrySetResult();
            }
    }

    private bool Acknowledged(long position) =>
        SyncName is null || world.Databases.Any(d => d.Source == this && d.Connected && d.NodeName == SyncName && d.Running && !d.Frozen && d.History.Count >= position);

    private static bool IsPrefixOf(List<long> shorter, List<long> longer) =>
        shorter.Count <= longer.Count && shorter.SequenceEqual(longer.Take(shorter.Count));

    /// <summary>A commit of one write: in the data at once, acknowledged when the synchronous standby has applied it.</summary>
    public async Task CommitAsync(long id, CancellationToken cancellationToken)
    {
        await ServerCall(Ms(0.5, 2), () =>
        {
            if (StandbyData)
                throw new InvalidOperationException("cannot execute INSERT in a read-only transaction");
            History.Add(id);
            return 0;
        }, cancellationToken);
        var position = History.IndexOf(id) + 1;
        if (position == 0 || Acknowledged(position))
            return;
        var done = new TaskCompletionSource();
        _waiting.Add((position, done));
        await done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>A request to the server: waits while it is frozen, fails if it dies, honours cancellation.</summary>
    private Task<T> ServerCall<T>(TimeSpan duration, Func<T> effect, CancellationToken cancellationToken)
    {
        if (Server is not { Alive: true } server)
            return Task.FromException<T>(new InvalidOperationException($"database on {host}: connection refused"));
        var done = new TaskCompletionSource<T>();
        Action<Exception> fail = error => done.TrySetException(error);
        _inFlight.Add(fail);
        var registration = cancellationToken.Register(() => done.TrySetCanceled(cancellationToken));
        world.Scheduler.After(server, duration, () =>
        {
            _inFlight.Remove(fail);
            registration.Dispose();
            if (done.Task.IsCompleted || Server != server)
                return;
            try
            {
                done.TrySetResult(effect());
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        });
        return done.Task;
    }

    /// <summary>A program the node runs (pg_ctl, pg_rewind): its effect happens even if the node dies meanwhile.</summary>
    private Task ProgramCall(TimeSpan duration, Action effect, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource();
        world.Scheduler.After(world.Scheduler.System, duration, () =>
        {
            try
            {
                effect();
                done.TrySetResult();
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        });
        return done.Task.WaitAsync(cancellationToken);
    }

    private void StartServer()
    {
        if (!DataExists)
            throw new InvalidOperationException($"database on {host}: no data folder");
        if (Running)
            return;
        Server = world.Scheduler.CreateProcess($"{nodeName}-postgres");
        Connected = false;
        world.Trace($"{nodeName}: PostgreSQL started ({(StandbyData ? "standby" : "primary")}, {History.Count} writes)");
    }

    // ------------------------------------------------------------------ IDatabaseNode

    public Task InitializeAsync(CancellationToken cancellationToken) =>
        ProgramCall(Ms(50, 100), () =>
        {
            if (!DataExists)
                CreateEmpty();
        }, cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => ProgramCall(Ms(80, 250), StartServer, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) =>
        ProgramCall(Ms(40, 150), () =>
        {
            if (!Running || Frozen)
            {
                // pg_ctl stop of a frozen server times out and kills it (the node's stop escalates to immediate).
                if (Frozen)
                    KillServer();
                return;
            }
            // A fast shutdown sends all WAL to connected standbys before the server exits.
            foreach (var standby in world.Databases.Where(d => d.Source == this && d.Connected && !d.Frozen && d.Running
                                                                && world.Network.Reachable(host, d.Host)))
                if (IsPrefixOf(standby.History, History))
                    standby.History = [.. History];
            KillServer();
            world.Trace($"{nodeName}: PostgreSQL stopped ({History.Count} writes)");
        }, cancellationToken);

    public Task KillAsync(CancellationToken cancellationToken) =>
        ProgramCall(Ms(2, 10), () =>
        {
            KillServer();
            world.Trace($"{nodeName}: PostgreSQL killed (fence)");
        }, cancellationToken);

    /// <summary>As PostgresNode's: a server that refuses or drops the connection reads as down.</summary>
    public async Task<DatabaseState> ReadStateAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await ServerCall(Ms(0.5, 3), () => new DatabaseState(true, StandbyData, Timeline, History.Count.ToString(),
                StandbyData && Connected ? "streaming" : null, SyncName,
                world.Databases.Where(d => d.Source == this && d.Connected && d.Running)
                    .Select(d => new StandbyInfo(d.NodeName, "streaming", d.NodeName == SyncName ? "sync" : "async", History.Count - d.History.Count, 0))
                    .ToList()), cancellationToken);
        }
        catch (InvalidOperationException)
        {
            return DatabaseState.Down;
        }
    }

    public async Task<TimeSpan> PromoteAsync(CancellationToken cancellationToken)
    {
        var started = world.Scheduler.Now;
        await ServerCall(Ms(30, 120), () =>
        {
            // Promoted already (a retry after an interrupted takeover): nothing to do, as PostgresNode's.
            if (!StandbyData)
                return 0;
            StandbyData = false;
            Source = null;
            Connected = false;
            Timeline++;
            SyncName = null;
            world.Promoted(this);
            return 0;
        }, cancellationToken);
        return world.Scheduler.Now - started;
    }

    public Task RejoinAsync(DatabaseEndpoint source, string applicationName, CancellationToken cancellationToken) =>
        CopyFromAsync(source, Ms(200, 700), "rewound", cancellationToken);

    public Task CloneAsync(DatabaseEndpoint source, string applicationName, CancellationToken cancellationToken) =>
        CopyFromAsync(source, Ms(500, 1500), "cloned", cancellationToken);

    private Task CopyFromAsync(DatabaseEndpoint endpoint, TimeSpan duration, string how, CancellationToken cancellationToken) =>
        ProgramCall(duration, () =>
        {
            var source = world.DatabaseAt(endpoint.Host);
            if (source is null || !source.Running || source.Frozen || !world.Network.Reachable(host, source.Host) || !world.Network.Reachable(source.Host, host))
                throw new InvalidOperationException($"could not connect to the server on {endpoint.Host}");
            KillServer();
            DataExists = true;
            History = [.. source.History];
            Timeline = source.Timeline;
            StandbyData = true;
            SyncName = null;
            Source = source;
            world.Trace($"{nodeName}: data {how} from {source.NodeName} ({History.Count} writes)");
            StartServer();
        }, cancellationToken);

    public async Task<bool> SetSynchronousStandbyAsync(string? standbyName, CancellationToken cancellationToken)
    {
        var written = await ServerCall(Ms(2, 10), () =>
        {
            SyncName = standbyName;
            Settle();
            return History.Count;
        }, cancellationToken);
        if (standbyName is null)
            return true;
        var deadline = world.Scheduler.Now + TimeSpan.FromSeconds(1);
        while (world.Scheduler.Now < deadline)
        {
            var caughtUp = await ServerCall(Ms(0.5, 2), () =>
                SyncName == standbyName && world.Databases.Any(d => d.Source == this && d.Connected && d.Running && d.NodeName == standbyName
                                                                    && d.History.Count >= written), cancellationToken);
            if (caughtUp)
                return true;
            await Task.Delay(TimeSpan.FromMilliseconds(2), world.Scheduler.Time, cancellationToken);
        }
        return false;
    }

    public Task EnsureStandbySlotAsync(string standbyName, CancellationToken cancellationToken) =>
        StandbyData ? Task.CompletedTask : ServerCall(Ms(1, 4), () => 0, cancellationToken);

    public Task DropIdleSlotsAsync(CancellationToken cancellationToken) => ServerCall(Ms(1, 4), () => 0, cancellationToken);

    public Task EnsureReplicationUserAsync(CancellationToken cancellationToken) => ServerCall(Ms(1, 4), () => 0, cancellationToken);

    public Task AllowPeerAsync(string? peerHost, string? peerName, CancellationToken cancellationToken) => Task.CompletedTask;

    public void WarmUp(DatabaseEndpoint peer)
    {
    }

    public Task CheckpointAsync(CancellationToken cancellationToken) => ProgramCall(Ms(5, 60), () => { }, cancellationToken);

    public async Task<string?> LastCheckpointLsnAsync(CancellationToken cancellationToken)
    {
        await ProgramCall(Ms(2, 8), () => { }, cancellationToken);
        return History.Count.ToString();
    }

    public async Task<bool> WaitReplayedAsync(string lsn, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var target = long.Parse(lsn);
        var deadline = world.Scheduler.Now + timeout;
        while (world.Scheduler.Now < deadline)
        {
            if ((await ReadStateAsync(cancellationToken)).Lsn is { } replayed && long.Parse(replayed) >= target)
                return true;
            await Task.Delay(TimeSpan.FromMilliseconds(10), world.Scheduler.Time, cancellationToken);
        }
        return false;
    }
}
