using Ssm.Domain.Nodes;

namespace Ssm.Tests.Simulation;

/// <summary>A broken invariant: the run stops at once, with its seed and trace.</summary>
public sealed class SimViolation(string message) : Exception(message);

/// <summary>
/// Two nodes (a, b), the witness (w) and a client (c) on one scheduler. Checks after every step that at most one
/// database can acknowledge a commit and that epochs never go back; at each promotion and at the end, that every
/// acknowledged write is in the data of the database that now writes.
/// </summary>
public sealed class SimWorld
{
    private readonly List<string> _trace = [];
    private long _journalIds;
    private long _writeIds;
    private readonly HashSet<long> _acknowledged = [];
    private readonly HashSet<long> _forgiven = [];
    private readonly SimProcess _client;

    public SimWorld(int seed, SimMutation mutation = SimMutation.None)
    {
        Seed = seed;
        Mutation = mutation;
        Scheduler = new SimScheduler(seed);
        Network = new SimNetwork(Scheduler);
        WitnessProcess = Scheduler.CreateProcess("witness");
        _client = Scheduler.CreateProcess("client");
        A = new SimNode(this, "a");
        B = new SimNode(this, "b");
        Nodes = [A, B];
        Databases = [A.Database, B.Database];
        Scheduler.AfterStep = Check;
    }

    public int Seed { get; }
    public SimMutation Mutation { get; }
    public SimScheduler Scheduler { get; }
    public SimNetwork Network { get; }
    public SimLeaseTable Lease { get; } = new();
    public SimVipAddress Vip { get; } = new();
    public SimProcess WitnessProcess { get; private set; }
    public SimNode A { get; }
    public SimNode B { get; }
    public IReadOnlyList<SimNode> Nodes { get; }
    public IReadOnlyList<SimDatabase> Databases { get; }
    public IReadOnlyList<string> TraceLines => _trace;
    public int Acknowledged => _acknowledged.Count;
    public int Forgiven => _forgiven.Count;
    /// <summary>Takeovers the witness granted before the lease ran out, on refusals as evidence; and of those, while the holder lived (a REJECT).</summary>
    public int EarlyTakeovers { get; set; }
    public int EarlyTakeoversWhileHolderAlive { get; set; }
    public List<(TimeSpan At, long Id)> Acks { get; } = [];
    /// <summary>Two standalone servers before ha_deploy are two systems, not two writers of one.</summary>
    public bool ClusterFormed { get; set; }

    public long NextJournalId() => -++_journalIds;

    public SimNode? NodeAt(string host) => Nodes.FirstOrDefault(n => n.Host == host);

    public SimDatabase? DatabaseAt(string host) => Databases.FirstOrDefault(d => d.Host == host);

    public void Trace(string line)
    {
        _trace.Add($"{Scheduler.Now.TotalSeconds,8:0.000} {line}");
        if (_trace.Count > 4000)
            _trace.RemoveRange(0, 1000);
    }

    // ------------------------------------------------------------------ invariants

    private void Check()
    {
        if (Scheduler.Escaped is { } where)
            throw new SimViolation($"the simulation is not deterministic: work was posted from a thread-pool thread at {where}");
        foreach (var database in Databases)
            database.Settle();
        // Clients reach a database only through its node: a server counts while its node admits writes or still runs
        // requests it admitted (a dead node, or one still joining, admits nothing). A frozen node counts: it acknowledges
        // when it thaws.
        var writers = Databases.Where(d => d.CanAcknowledge && NodeAt(d.Host) is { Process.Alive: true } node
                                           && (node.Supervisor.AcceptsWrites || node.Gate.InFlight > 0)).ToList();
        if (ClusterFormed && writers.Count > 1 && !ForcedApart(writers))
            throw new SimViolation($"two databases can acknowledge commits: {string.Join(", ", writers.Select(w => w.NodeName))}");
        foreach (var node in Nodes)
        {
            var epoch = node.Store.SavedEpoch;
            if (epoch < node.HighestEpoch)
                throw new SimViolation($"{node.Name}'s epoch went back from {node.HighestEpoch} to {epoch}");
            node.HighestEpoch = epoch;
        }
        for (var i = 1; i < Lease.Epochs.Count; i++)
            if (Lease.Epochs[i] <= Lease.Epochs[i - 1])
                throw new SimViolation($"the witness's lease epoch went back: {string.Join(" → ", Lease.Epochs)}");
    }

    private SimDatabase? _forced;
    private SimDatabase? _forsaken;

    /// <summary>
    /// ha_takeover is the operator's choice to lose what the old active acknowledges: an old active that could not answer
    /// (frozen) may still acknowledge what it had admitted, when it thaws and until it sees the newer epoch. That second
    /// writer is allowed only behind a forced promotion at a newer epoch, and what it acknowledges is forgiven, not counted.
    /// </summary>
    private bool ForcedApart(List<SimDatabase> writers)
    {
        if (writers.Count != 2 || _forced is null || !writers.Contains(_forced))
            return false;
        var old = writers.Single(w => w != _forced);
        if (NodeAt(old.Host)!.Store.SavedEpoch >= NodeAt(_forced.Host)!.Store.SavedEpoch)
            return false;
        if (_forsaken != old)
            Trace($"{old.NodeName}: may still acknowledge what it admitted before ha_takeover on {_forced.NodeName} (forgiven, the operator's choice)");
        _forsaken = old;
        return true;
    }

    /// <summary>A promoted database must hold every acknowledged write, unless the operator forced it (ha_takeover).</summary>
    public void Promoted(SimDatabase database)
    {
        var node = NodeAt(database.Host)!;
        Trace($"{node.Name}: PostgreSQL promoted (timeline {database.Timeline}, {database.History.Count} writes)");
        (_forced, _forsaken) = (node.ForcingTakeover ? database : null, null);
        var missing = _acknowledged.Where(id => !database.History.Contains(id)).ToList();
        if (missing.Count == 0)
            return;
        if (node.ForcingTakeover)
        {
            Trace($"{node.Name}: ha_takeover forced a promotion without {missing.Count} acknowledged writes (the operator's choice)");
            foreach (var id in missing)
            {
                _acknowledged.Remove(id);
                _forgiven.Add(id);
            }
            return;
        }
        throw new SimViolation($"{node.Name} was promoted without {missing.Count} acknowledged writes (first: {missing[0]})");
    }

    public void CheckNothingLost(SimDatabase writer)
    {
        var missing = _acknowledged.Where(id => !writer.History.Contains(id)).ToList();
        if (missing.Count > 0)
            throw new SimViolation($"{missing.Count} acknowledged writes are not in the data of {writer.NodeName}, which writes now (first: {missing[0]})");
    }

    // ------------------------------------------------------------------ the client

    /// <summary>Writes through the VIP every interval: a write counts once its success answer is back within the timeout.</summary>
    public void StartClient(TimeSpan interval) => Scheduler.Post(_client, () => _ = ClientLoopAsync(interval));

    private async Task ClientLoopAsync(TimeSpan interval)
    {
        while (true)
        {
            _ = WriteAsync(++_writeIds);
            await Task.Delay(interval, Scheduler.Time);
        }
    }

    private async Task WriteAsync(long id)
    {
        if (Vip.Owner is not { } owner)
            return;
        var node = NodeAt(owner)!;
        var answer = new TaskCompletionSource<bool>();
        var client = _client;
        Network.Send("c", node.Host, Scheduler.System, () =>
        {
            if (!node.Process.Alive)
            {
                Network.Send(node.Host, "c", client, () => answer.TrySetResult(false));
                return;
            }
            Scheduler.Post(node.Process, async void () =>
            {
                var ok = false;
                try
                {
                    // The role gate, then the commit on the node's own database.
                    var supervisor = node.Supervisor;
                    var gate = node.Gate;
                    if (gate.TryEnter(() => supervisor.AcceptsWrites))
                    {
                        try
                        {
                            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), Scheduler.Time);
                            await node.Database.CommitAsync(id, timeout.Token);
                            ok = true;
                        }
                        finally
                        {
                            gate.Exit();
                        }
                    }
                }
                catch (Exception)
                {
                    ok = false;
                }
                Network.Send(node.Host, "c", client, () => answer.TrySetResult(ok));
            });
        });
        try
        {
            if (await answer.Task.WaitAsync(TimeSpan.FromSeconds(3), Scheduler.Time))
            {
                if (_forsaken == node.Database)
                {
                    _forgiven.Add(id);
                    return;
                }
                _acknowledged.Add(id);
                Acks.Add((Scheduler.Now, id));
            }
        }
        catch (TimeoutException)
        {
        }
    }

    // ------------------------------------------------------------------ faults

    public void WitnessDown()
    {
        WitnessProcess.Kill();
        Trace("witness: down");
    }

    public void WitnessUp()
    {
        if (WitnessProcess.Alive)
            return;
        WitnessProcess = Scheduler.CreateProcess("witness");
        Trace("witness: up");
    }

    public void Isolate(string host, bool oneWay)
    {
        foreach (var other in new[] { "a", "b", "w", "c" }.Where(h => h != host))
        {
            Network.Cut(host, other);
            if (!oneWay)
                Network.Cut(other, host);
        }
    }

    /// <summary>The node that writes now, if exactly one does: Active or Standalone, and its database acknowledges.</summary>
    public SimNode? Writer() => Nodes.SingleOrDefault(n => n.Process.Alive && n.Supervisor.Role is NodeRole.Active or NodeRole.Standalone
                                                           && n.Database.CanAcknowledge);
}
