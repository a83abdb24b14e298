using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Domain.Events;
using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

public sealed record PeerObservation(PeerHello? Last, long LastSeenTimestamp)
{
    public TimeSpan? AgeOn(TimeProvider time) => LastSeenTimestamp == 0 ? null : time.GetElapsedTime(LastSeenTimestamp);
}

public sealed record HandoverRequest(string From, long Epoch, string? MinimumLsn, string Cause);
public sealed record HandoverReply(string Node, long Epoch, double PromoteMs, double TotalMs);
public sealed record JoinRequest(string Primary, string PrimaryUrl, string DatabaseHost, int DatabasePort, long Epoch, string Vip, bool Witness);
public sealed record JoinReply(string Node, string DatabaseHost, int DatabasePort);
public sealed record DiscardRequest(string By, long Epoch);

/// <summary>A verb refused because of the node's state; nothing was changed.</summary>
public sealed class WrongStateException(string message) : Exception(message);

/// <summary>
/// The node's cluster brain (DESIGN §5): its role, epoch and observations of the peer and the witness,
/// and every role transition, one at a time. Handlers and the heartbeat job call it; it calls the ports.
/// </summary>
public sealed class ClusterSupervisor(
    IDatabaseNode database,
    IVip vip,
    IWitness witness,
    IPeerLink peer,
    ILocalStateStore store,
    IOptions<HaOptions> haOptions,
    IOptions<NodeOptions> nodeOptions,
    IClusterJournal journal,
    ChangeNotifier notifier,
    IClock clock,
    TimeProvider time,
    WriteGate writeGate,
    ILogger<ClusterSupervisor> logger)
{
    internal const string HandingOverText = "handing over";
    private readonly SemaphoreSlim _transition = new(1, 1);
    private readonly HaOptions _ha = haOptions.Value;
    private LocalNodeState _state = new();
    private long _lastRenewal;
    private long _lastDatabaseOk = time.GetTimestamp();
    private long _lastJoinAttempt;
    private string _lastSnapshot = "";
    private readonly double _createdAt = ProcessUptime.Milliseconds;

    public string Name => nodeOptions.Value.Name;
    // Until the start-up has read the node's state it takes no writes: a restarted member's database may be a writable
    // primary that another node has superseded (found by the simulator, seed 7260). A node whose database is managed
    // elsewhere is never a member, so it is standalone from the start.
    public NodeRole Role { get; private set; } = database.IsManaged ? NodeRole.Stopped : NodeRole.Standalone;
    /// <summary>What the node is doing; <see cref="Role"/> follows from it (docs/cluster-states.md).</summary>
    public NodeState NodeState { get; private set; } = database.IsManaged ? NodeState.Joining : NodeState.Standalone;
    public string Reason { get; private set; } = "starting";
    public long Epoch => _state.Epoch;
    public LocalNodeState State => _state;
    public PeerObservation Peer { get; private set; } = new(null, 0);
    public TimeSpan? PeerAge => Peer.AgeOn(time);
    public bool? WitnessReachable { get; private set; }
    public LeaseState? Lease { get; private set; }
    public DatabaseState Database { get; private set; } = DatabaseState.Down;
    public ReplicationMode Mode { get; private set; }
    public bool TakeoverNeedsOperator { get; private set; }
    public IVip Vip => vip;
    public IDatabaseNode DatabaseNode => database;
    public bool AcceptsWrites => Role is NodeRole.Active or NodeRole.Standalone;

    // A cluster deployed before the peer port existed stored the peer's plain HTTP address: its peer port is the same as ours.
    private Uri? PeerUrl => _state.PeerUrl is { } url
        ? new Uri(url) is { Scheme: "http" } old ? new UriBuilder(old) { Scheme = "https", Port = nodeOptions.Value.PeerPort }.Uri : new Uri(url)
        : null;

    /// <summary>What the rules (<see cref="ClusterRules"/>) decide on: this node's own state, now.</summary>
    private NodeFacts Facts() =>
        new(Name, NodeState, Epoch, _state.Intent, _state.LastRole, _state.PeerName, witness.Configured, Mode, _syncRecorded);

    public PeerHello Hello() =>
        new(Name, Role, Epoch, database.Endpoint.Host, database.Endpoint.Port, Database.Lsn, Reason, DatabaseAnswers, Mode, NodeState);

    /// <summary>The node's own PostgreSQL answered within the failover timeout (a frozen one does not).</summary>
    private bool DatabaseAnswers => Role != NodeRole.Active || time.GetElapsedTime(_lastDatabaseOk) <= _ha.DatabaseTimeout;

    // ---------------------------------------------------------------- start-up

    private readonly Lock _startLock = new();
    private Task? _started;

    /// <summary>
    /// Brings the node's cluster role up, once, a rejoin included: the node host starts it as soon as its services
    /// are built, and its hosted service awaits the same task (decision 0015).
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_startLock)
            return _started ??= StartOnceAsync(cancellationToken);
    }

    private async Task StartOnceAsync(CancellationToken cancellationToken)
    {
        _state = store.Load();
        if (_state.Deployed && _state.Intent == NodeIntent.Member && PeerUrl is { } peerUrl)
            peer.WarmUp(peerUrl);
        _ = WatchdogAsync();
        _ = LeaseLoopAsync();
        witness.Configure(_state.Deployed && _state.UsesWitness ? _ha.Witness : null);
        if (_state.Deployed && _state.UsesWitness && string.IsNullOrWhiteSpace(_ha.Witness))
            logger.LogError("This cluster was deployed with a witness, but this node has none configured (--witness): it cannot take over after a crash");
        if (!database.IsManaged)
        {
            SetRole(NodeState.Standalone, "database managed outside the node");
            return;
        }
        // Before the server starts: only the peer's address may replicate or rewind, and only with a cluster certificate.
        await database.AllowPeerAsync(_state.Deployed ? _state.PeerDatabaseHost : null, _state.PeerName, cancellationToken);
        if (!_state.Deployed)
        {
            await database.InitializeAsync(cancellationToken);
            await database.StartAsync(cancellationToken);
            SetRole(NodeState.Standalone, _state.TornDown?.Text ?? "no cluster deployed");
            return;
        }
        switch (_state.Intent)
        {
            case NodeIntent.Discarded:
                await database.StopAsync(cancellationToken);
                SetRole(NodeState.Discarded, DiscardedText());
                return;
            case NodeIntent.Stopped:
                await database.StopAsync(cancellationToken);
                SetRole(NodeState.StoppedByOperator, "cluster services stopped (ha_cluster_stop); start them with ha_cluster_start");
                return;
            default:
                // Rejoin (or resume) at once rather than at the first heartbeat after start-up. Later ticks retry.
                _lastJoinAttempt = 0;
                logger.LogInformation("Cluster start-up {Uptime:F0} ms after the process started (supervisor created at {Created:F0} ms)",
                    ProcessUptime.Milliseconds, _createdAt);
                SetRole(NodeState.Joining, "rejoining the cluster");
                if (_state.PeerDatabaseHost is { } peerHost)
                    database.WarmUp(new DatabaseEndpoint(peerHost, _state.PeerDatabasePort));
                await TickAsync(CancellationToken.None);
                return;
        }
    }

    private string DiscardedText() =>
        $"discarded by ha_teardown on {_state.DiscardedBy} at {_state.DiscardedAt:u}: this node refuses to rejoin; deploy a new cluster from the standalone node";

    // ---------------------------------------------------------------- operator verbs

    public async Task<string> ClusterStopAsync(CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            RequireDeployed("ha_cluster_stop");
            if (ClusterRules.OnClusterStop(Facts(), Reason))
                return await HandOverLockedAsync(cancellationToken);
            await TellPeerStandbyLeavesAsync(cancellationToken);
            await database.StopAsync(cancellationToken);
            SaveIntent(NodeIntent.Stopped, NodeRole.Standby);
            SetRole(NodeState.StoppedByOperator, "cluster services stopped (ha_cluster_stop); start them with ha_cluster_start");
            return $"Cluster services stopped on standby {Name}; {_state.PeerName} stays active, replication is asynchronous until this node rejoins.";
        }
        finally
        {
            _transition.Release();
        }
    }

    /// <summary>Planned handover: stop taking writes, let the standby replay everything, then it promotes.</summary>
    private async Task<string> HandOverLockedAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var steps = new StepTimer(time);
        // While clients are still served: the shutdown checkpoint below, inside the gap, then has little left to write.
        try
        {
            await database.CheckpointAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning("Checkpoint before the handover failed ({Error}); the shutdown takes its own", ex.Message);
        }
        steps.Step("checkpoint (clients served)");
        var hello = PeerUrl is { } url ? await peer.HeartbeatAsync(url, Hello(), cancellationToken) : null;
        var standbyReady = hello is { Role: NodeRole.Standby } && Database.Standbys.Any(s => s.Name == _state.PeerName && s.State == "streaming");
        steps.Step("heartbeat");

        SetRole(NodeState.HandingOver, HandingOverText);
        // The standby hears "handing over" from this node before its database stops: a standby that last heard "active"
        // and then finds the PostgreSQL port refusing takes that as a crash and takes over alone (decision 0042), while
        // this node still drains and will ask for the promotion (clean-clone HaBrowserTests under load: a planned
        // handover recorded as a crash failover). Told meanwhile the requests drain.
        var told = PeerUrl is { } peerUrl ? TellPeerAsync(peerUrl, cancellationToken) : Task.CompletedTask;
        // No request is admitted any more; those admitted get their true answer before the server stops (a fast
        // shutdown would cut them off, and a client whose commit was cut off cannot know whether it happened). The VIP
        // stays meanwhile: an answer sent after it left this host never reaches its client (seven such writes in the
        // namespace chaos run, each committed and timed out at the client).
        if (!await writeGate.WaitDrainedAsync(TimeSpan.FromSeconds(2), time))
            logger.LogWarning("{Count} requests still running 2 s into the handover; stopping the database under them", writeGate.InFlight);
        steps.Step("drain");
        // Where the standby can take the address from this node, it keeps it until then: clients meanwhile get a quick
        // 503 and retry, instead of sending into an address nobody holds until their own timeout (0.5 s in the chaos run).
        if (!vip.CanBeTakenWhileHeld)
            await vip.ReleaseAsync();
        steps.Step("VIP release");
        await told;
        steps.Step("standby told");
        // A fast shutdown sends all WAL to the connected standby before the server exits.
        await database.StopAsync(cancellationToken);
        steps.Step("database stop");
        var lsn = await database.LastCheckpointLsnAsync(cancellationToken);
        steps.Step("checkpoint LSN");
        if (standbyReady && witness.Configured)
            await witness.TransferAsync(_state.ClusterName, Name, _state.PeerName!, Epoch, _ha.FailoverTimeout, cancellationToken);
        steps.Step("lease transfer");

        // Without a standby to take over, this node keeps the newest data and stays the one to resume.
        SaveIntent(NodeIntent.Stopped, standbyReady ? NodeRole.Standby : NodeRole.Active);
        const string stopped = "cluster services stopped (ha_cluster_stop); start them with ha_cluster_start";
        if (!standbyReady)
        {
            await vip.ReleaseAsync();
            SetRole(NodeState.StoppedByOperator, stopped);
            return $"Cluster services stopped on {Name}. No streaming standby could take over: the service is down until ha_cluster_start.";
        }
        try
        {
            // Still "handing over" until the standby answers, so it waits for this call instead of taking over alone. The
            // standby waits up to 10 s for the replay, then promotes: a lost answer costs 12 s, not 30 (simulator, seed 4663).
            var reply = await peer.CallAsync<HandoverReply>(PeerUrl!, "/peer/promote",
                new HandoverRequest(Name, Epoch, lsn, "planned handover (ha_cluster_stop)"), TimeSpan.FromSeconds(12), cancellationToken);
            steps.Step($"peer's promotion ({reply.TotalMs:0} ms inside {reply.Node})");
            logger.LogInformation("Handover steps: {Steps}", steps);
            return $"Cluster services stopped on {Name}. {reply.Node} is active at epoch {reply.Epoch} " +
                   $"(handover {time.GetElapsedTime(started).TotalMilliseconds:0} ms, promote {reply.PromoteMs:0} ms).";
        }
        finally
        {
            // After the standby took it (or failed to): a no-op where this node let go before the call.
            await vip.ReleaseAsync();
            SetRole(NodeState.StoppedByOperator, stopped);
        }
    }

    /// <summary>One heartbeat carrying this node's hello now; a peer that does not answer in time is not waited for.</summary>
    private async Task TellPeerAsync(Uri url, CancellationToken cancellationToken)
    {
        try
        {
            using var deadline = new CancellationTokenSource(2 * _ha.HeartbeatInterval, time);
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            await peer.HeartbeatAsync(url, Hello(), bounded.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }

    public async Task<string> ClusterStartAsync(CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            RequireDeployed("ha_cluster_start");
            ClusterRules.OnClusterStart(Facts(), DiscardedText());
            await JoinLockedAsync(operatorAsked: true, cancellationToken);
            if (Role == NodeRole.Stopped)
                throw new WrongStateException($"Cluster services could not start on {Name}: {Reason}");
            return Role == NodeRole.Standby
                ? $"Cluster services started on {Name}: standby of {_state.PeerName}, replicating from it (epoch {Epoch})."
                : $"Cluster services started on {Name}: active at epoch {Epoch}.";
        }
        finally
        {
            _transition.Release();
        }
    }

    /// <summary>Decides how this member comes back: as the active's standby, as the active itself, or not at all.</summary>
    private async Task JoinLockedAsync(bool operatorAsked, CancellationToken cancellationToken)
    {
        var calling = time.GetTimestamp();
        var hello = PeerUrl is { } url ? await AskPeerAsync(url, cancellationToken) : null;
        if (hello is not null)
            Peer = new PeerObservation(hello, time.GetTimestamp());
        logger.LogInformation("Joining: {Peer} answered {Role} in {Ms:F0} ms ({Uptime:F0} ms after the process started)",
            _state.PeerName, hello?.Role.ToString() ?? "nothing", time.GetElapsedTime(calling).TotalMilliseconds, ProcessUptime.Milliseconds);

        var lease = witness.Configured ? await TryReadLeaseAsync(cancellationToken) : null;
        switch (ClusterRules.OnJoin(Facts(), hello, lease, operatorAsked))
        {
            case JoinPlan.Follow follow:
                await FollowLockedAsync(follow.Active, cancellationToken);
                return;
            case JoinPlan.FinishTakeover finish:
                await FinishInterruptedTakeoverLockedAsync(finish.Epoch, cancellationToken);
                return;
            case JoinPlan.TakeOver takeOver when await TryTakeOverAsync(cancellationToken):
                await database.StartAsync(cancellationToken);
                await PromoteLockedAsync(takeOver.Cause, _state.PeerName ?? "", time.GetTimestamp(), cancellationToken);
                await Record(EventCategory.Cluster, "Takeover", $"active at epoch {Epoch} after start-up", cancellationToken);
                return;
            case JoinPlan.TakeOver takeOver:
                await WaitLockedAsync(takeOver.Otherwise, cancellationToken);
                return;
            case JoinPlan.Wait wait:
                await WaitLockedAsync(wait, cancellationToken);
                return;
            case JoinPlan.Resume resume:
                if (resume.RenewLease)
                {
                    var asked = time.GetTimestamp();
                    if (!await witness.TryAcquireAsync(_state.ClusterName, Name, Epoch, Epoch, _ha.FailoverTimeout, cancellationToken))
                    {
                        SetRole(NodeState.WaitingForWitness, "the witness refused the lease");
                        return;
                    }
                    _lastRenewal = asked;
                }
                await database.StartAsync(cancellationToken);
                await ActivateLockedAsync(cancellationToken);
                await Record(EventCategory.Cluster, "Resume", $"active again at epoch {Epoch}", cancellationToken);
                return;
        }
    }

    /// <summary>Rewinds (or clones) from the active peer and streams from it.</summary>
    private async Task FollowLockedAsync(PeerHello active, CancellationToken cancellationToken)
    {
        SetRole(NodeState.Joining, $"rejoining as standby of {active.Node}");
        await database.RejoinAsync(new DatabaseEndpoint(active.DatabaseHost, active.DatabasePort), Name, cancellationToken);
        _state.Epoch = active.Epoch;
        SaveIntent(NodeIntent.Member, NodeRole.Standby);
        Mode = ReplicationMode.None;
        SetRole(NodeState.Standby, $"streaming from {active.Node}");
        // Tell the active now rather than at the next heartbeat: it turns synchronous as soon as it sees this.
        if (await peer.HeartbeatAsync(PeerUrl!, Hello(), cancellationToken) is { } reply)
            Peer = new PeerObservation(reply, time.GetTimestamp());
        await Record(EventCategory.Cluster, "Rejoin", $"standby of {active.Node} at epoch {Epoch}", cancellationToken);
    }

    private async Task WaitLockedAsync(JoinPlan.Wait wait, CancellationToken cancellationToken)
    {
        if (wait.StopDatabase)
            await database.StopAsync(cancellationToken);
        if (wait.KeepTrying)
            SaveIntent(NodeIntent.Member, _state.LastRole);
        SetRole(wait.State, wait.Reason);
    }

    /// <summary>
    /// This node won the witness's lease for a takeover (crash failover or handover) and went down before it promoted.
    /// Nobody else can write at that epoch, and its data has every acknowledged write: it had to be in sync to win the
    /// lease, and the old active's commits waited for it. Without this the lease names a node that waits for the other,
    /// and the other refuses a lease that is not its own: a cluster stuck for good (found by the simulator, seed 12).
    /// </summary>
    private async Task FinishInterruptedTakeoverLockedAsync(long epoch, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        logger.LogWarning("The witness names this node holder of epoch {Epoch}, which it won but never took up: finishing that takeover", epoch);
        await database.StartAsync(cancellationToken);
        if (!await witness.TryAcquireAsync(_state.ClusterName, Name, epoch, epoch, _ha.FailoverTimeout, cancellationToken))
        {
            SetRole(NodeState.WaitingForWitness, $"could not renew the lease of epoch {epoch} this node had won");
            return;
        }
        _lastRenewal = started;
        await PromoteLockedAsync($"takeover interrupted at epoch {epoch}, finished", _state.PeerName ?? "", started, cancellationToken);
    }

    /// <summary>The witness grants the next epoch to the recorded sync standby once the active's lease expired.</summary>
    private async Task<bool> TryTakeOverAsync(CancellationToken cancellationToken)
    {
        try
        {
            _lastRenewal = time.GetTimestamp();
            return await witness.TryTakeOverAsync(_state.ClusterName, Name, Epoch, holderGone: false, _ha.FailoverTimeout, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            WitnessReachable = false;
            return false;
        }
    }

    /// <summary>
    /// The peer's hello for a join decision. Not a liveness check, so not the heartbeat's 400 ms: the first call of a
    /// restarted process (cold HTTP and JSON code, a busy machine) took 0.2-0.45 s, and a timeout cost a second's retry.
    /// </summary>
    private async Task<PeerHello?> AskPeerAsync(Uri url, CancellationToken cancellationToken)
    {
        try
        {
            return await peer.CallAsync<PeerHello>(url, "/peer/heartbeat", Hello(), TimeSpan.FromSeconds(3), cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or System.Text.Json.JsonException
                                       || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    public async Task<string> TakeoverAsync(CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            RequireDeployed("ha_takeover");
            ClusterRules.OnTakeover(Facts(), peer: null); // the role, before asking the peer
            ClusterRules.OnTakeover(Facts(), await peer.HeartbeatAsync(PeerUrl!, Hello(), cancellationToken));
            _lastRenewal = time.GetTimestamp();
            if (witness.Configured && !await witness.TryAcquireAsync(_state.ClusterName, Name, Epoch, Epoch + 1, _ha.FailoverTimeout, cancellationToken))
                throw new WrongStateException("the witness still sees the active's lease; wait for it to expire");
            var started = time.GetTimestamp();
            await PromoteLockedAsync("operator takeover (ha_takeover)", _state.PeerName ?? "", started, cancellationToken);
            return $"{Name} took over as active at epoch {Epoch}.";
        }
        finally
        {
            _transition.Release();
        }
    }

    public async Task<string> TeardownAsync(CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            RequireDeployed("ha_teardown");
            ClusterRules.OnTeardown(Facts());
            var discarded = _state.PeerName ?? "";
            // The witness first, in one compare-and-set: the lease moves to the next epoch, this node's, naming no sync
            // standby, so the other node can never take over with what it missed. If the witness cannot confirm it,
            // nothing has changed (a half-done teardown once left the lease at an epoch no node had: simulator, seed 5158).
            if (witness.Configured)
            {
                bool confirmed;
                try
                {
                    confirmed = await witness.TryAcquireAsync(_state.ClusterName, Name, Epoch, Epoch + 1, TimeSpan.FromDays(36500), cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    throw new WrongStateException($"ha_teardown needs the witness to confirm it, and it did not answer ({ex.Message}); nothing changed.");
                }
                if (!confirmed)
                    throw new WrongStateException("ha_teardown: the witness no longer names this node as the lease holder; nothing changed.");
                // From here the lease loop renews at the new epoch; a crash now resumes as active at it.
                _state.Epoch++;
                store.Save(_state);
            }
            var epoch = witness.Configured ? Epoch : Epoch + 1;
            try
            {
                await peer.CallAsync<JoinReply>(PeerUrl!, "/peer/discard", new DiscardRequest(Name, epoch), TimeSpan.FromSeconds(15), cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or OperationCanceledException)
            {
                logger.LogWarning("Could not reach {Peer} to discard it ({Error}); its epoch is behind, so it cannot come back as a member", discarded, ex.Message);
            }
            await database.SetSynchronousStandbyAsync(null, cancellationToken);
            Mode = ReplicationMode.None;
            await DropDiscardedSlotAsync(cancellationToken);
            await JournalAsync(ct => journal.RecordTeardownAsync(discarded, epoch, ct), "the teardown into the cluster document", TimeSpan.FromSeconds(5), cancellationToken);
            await vip.ReleaseAsync();
            witness.Configure(null);
            _state = new LocalNodeState { Epoch = epoch, LastRole = NodeRole.Standalone, TornDown = new(Name, clock.UtcNow, discarded, _state.Vip) };
            store.Save(_state);
            // The discarded node no longer replicates from this server: its pg_hba line goes (its walsender ends).
            await database.AllowPeerAsync(null, null, cancellationToken);
            SetRole(NodeState.Standalone, _state.TornDown.Text);
            await Record(EventCategory.Cluster, "Teardown", $"standalone; {discarded} discarded", cancellationToken);
            return $"Cluster dissolved: {Name} is standalone with all data; {discarded} is discarded and refuses to rejoin.";
        }
        finally
        {
            _transition.Release();
        }
    }

    /// <summary>The discarded node's database stops on discard; once its stream is gone, its slot goes too.</summary>
    private async Task DropDiscardedSlotAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var streaming = (await database.ReadStateAsync(cancellationToken)).Standbys.Count;
            await database.DropIdleSlotsAsync(cancellationToken);
            if (streaming == 0)
                return;
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken);
        }
        logger.LogWarning("{Peer} still streams after teardown; its replication slot stays until it stops", _state.PeerName);
    }

    public async Task<string> DeployAsync(Uri peerUrl, string vipAddress, CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            ClusterRules.OnDeploy(Facts(), _state.Deployed, database.IsManaged);
            var epoch = Epoch + 1;
            var witnessConnection = string.IsNullOrWhiteSpace(_ha.Witness) ? null : _ha.Witness;
            if (witnessConnection is not null)
            {
                witness.Configure(witnessConnection);
                // The lease is ours from the start: the new standby must not find it free while we finish.
                await witness.InitializeAsync("ssm", Name, epoch, TimeSpan.FromMinutes(5), cancellationToken);
            }
            await database.EnsureReplicationUserAsync(cancellationToken);
            // The peer's name names the replication slot, which must exist before it clones and streams. A
            // freshly started peer may answer its first call slowly: this is not a heartbeat, so wait for it.
            PeerHello peerHello;
            try
            {
                peerHello = await peer.CallAsync<PeerHello>(peerUrl, "/peer/heartbeat", Hello(), TimeSpan.FromSeconds(30), cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or OperationCanceledException)
            {
                throw new WrongStateException($"the peer {peerUrl} does not answer (is it started, with the same cluster keys, on its peer port?): {ex.Message}");
            }
            var peerName = peerHello.Node;
            await database.AllowPeerAsync(peerHello.DatabaseHost, peerHello.Node, cancellationToken);
            await database.EnsureStandbySlotAsync(peerName, cancellationToken);
            var reply = await peer.CallAsync<JoinReply>(peerUrl, "/peer/join",
                new JoinRequest(Name, nodeOptions.Value.PeerUrl, database.Endpoint.Host, database.Endpoint.Port, epoch, vipAddress, witnessConnection is not null),
                TimeSpan.FromMinutes(5), cancellationToken);
            _state = new LocalNodeState
            {
                Deployed = true, Identity = NodeIdentity.Primary, Intent = NodeIntent.Member, Epoch = epoch, LastRole = NodeRole.Active,
                PeerName = reply.Node, PeerUrl = peerUrl.ToString(), PeerDatabaseHost = reply.DatabaseHost, PeerDatabasePort = reply.DatabasePort,
                Vip = vipAddress, UsesWitness = witnessConnection is not null,
            };
            store.Save(_state);
            _lastRenewal = time.GetTimestamp();
            await ActivateLockedAsync(cancellationToken);
            var confirmed = await database.SetSynchronousStandbyAsync(reply.Node, cancellationToken);
            Mode = ReplicationMode.Sync;
            if (confirmed)
                await RecordSyncStandbyAsync(reply.Node, cancellationToken);
            var cluster = new ClusterDocument { Epoch = epoch, Active = Name, PrimaryNode = Name, SecondaryNode = reply.Node, Vip = vipAddress };
            await JournalAsync(ct => journal.RecordDeployAsync(cluster, ct), "the cluster document", TimeSpan.FromSeconds(5), cancellationToken);
            await Record(EventCategory.Cluster, "Deploy", $"primary {Name}, secondary {reply.Node}, VIP {vipAddress}", cancellationToken);
            return $"Cluster deployed: {Name} (primary) active, {reply.Node} (secondary) standby, VIP {vipAddress}, epoch {epoch}" +
                   (witnessConnection is null ? ", no witness (crash takeover needs ha_takeover)." : ", witness configured.");
        }
        finally
        {
            _transition.Release();
        }
    }

    // ---------------------------------------------------------------- peer calls

    public async Task<JoinReply> AcceptJoinAsync(JoinRequest request, CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            ClusterRules.OnJoinRequest(Facts(), _state.Deployed, database.IsManaged, request.Witness, !string.IsNullOrWhiteSpace(_ha.Witness), request.Primary);
            SetRole(NodeState.Copying, $"copying the database of {request.Primary}");
            await database.AllowPeerAsync(request.DatabaseHost, request.Primary, cancellationToken);
            await database.CloneAsync(new DatabaseEndpoint(request.DatabaseHost, request.DatabasePort), Name, cancellationToken);
            _state = new LocalNodeState
            {
                Deployed = true, Identity = NodeIdentity.Secondary, Intent = NodeIntent.Member, Epoch = request.Epoch, LastRole = NodeRole.Standby,
                PeerName = request.Primary, PeerUrl = request.PrimaryUrl, PeerDatabaseHost = request.DatabaseHost, PeerDatabasePort = request.DatabasePort,
                Vip = request.Vip, UsesWitness = request.Witness,
            };
            store.Save(_state);
            witness.Configure(request.Witness ? _ha.Witness : null);
            SetRole(NodeState.Standby, $"streaming from {request.Primary}");
            return new JoinReply(Name, database.Endpoint.Host, database.Endpoint.Port);
        }
        finally
        {
            _transition.Release();
        }
    }

    public async Task<HandoverReply> AcceptHandoverAsync(HandoverRequest request, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        await _transition.WaitAsync(cancellationToken);
        try
        {
            // Already promoted from this very handover (the peer lost, then retried): the same answer again.
            if (ClusterRules.OnHandoverRequest(Facts(), request) == HandoverAnswer.AlreadyDone)
                return new HandoverReply(Name, Epoch, 0, time.GetElapsedTime(started).TotalMilliseconds);
            var steps = new StepTimer(time);
            _state.Epoch = request.Epoch;
            if (request.MinimumLsn is not null && !await database.WaitReplayedAsync(request.MinimumLsn, TimeSpan.FromSeconds(10), cancellationToken))
                throw new WrongStateException($"this standby did not replay up to {request.MinimumLsn} within 10 s; not promoting");
            steps.Step("replay");
            if (witness.Configured)
            {
                _lastRenewal = time.GetTimestamp();
                var lease = await witness.ReadAsync(_state.ClusterName, cancellationToken);
                if (!ClusterRules.LeaseTransferredToMe(Facts(), lease) && !await witness.TryAcquireAsync(_state.ClusterName, Name, Epoch, Epoch + 1, _ha.FailoverTimeout, cancellationToken))
                    throw new WrongStateException("the witness did not grant this node the next epoch");
            }
            steps.Step("lease");
            var promote = await PromoteLockedAsync(request.Cause, request.From, started, cancellationToken, steps);
            logger.LogInformation("Handover promotion steps: {Steps}", steps);
            return new HandoverReply(Name, Epoch, promote.TotalMilliseconds, time.GetElapsedTime(started).TotalMilliseconds);
        }
        finally
        {
            _transition.Release();
        }
    }

    public async Task AcceptDiscardAsync(DiscardRequest request, CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            await vip.ReleaseAsync();
            await database.StopAsync(cancellationToken);
            _state.Intent = NodeIntent.Discarded;
            _state.DiscardedBy = request.By;
            _state.DiscardedAt = clock.UtcNow;
            store.Save(_state);
            SetRole(NodeState.Discarded, DiscardedText());
        }
        finally
        {
            _transition.Release();
        }
    }

    public async Task AcceptStandbyLeavingAsync(string node, CancellationToken cancellationToken)
    {
        await _transition.WaitAsync(cancellationToken);
        try
        {
            if (!ClusterRules.OnStandbyLeaving(Facts(), node))
                return;
            // A standby leaving on purpose: commits must not wait for it, once the witness no longer names it.
            if (witness.Configured && !await RecordSyncStandbyAsync(null, cancellationToken))
            {
                logger.LogWarning("Standby {Peer} leaves, but the witness could not be told: commits wait for it until the witness answers", node);
                return;
            }
            await database.SetSynchronousStandbyAsync(null, cancellationToken);
            Mode = ReplicationMode.Async;
            // A reading taken before the standby left must not make the next tick turn synchronous again.
            lock (_databaseLock)
            {
                Database = Database with { Standbys = Database.Standbys.Where(s => s.Name != node).ToList() };
                _databaseReadAt = time.GetTimestamp();
            }
        }
        finally
        {
            _transition.Release();
            Publish();
        }
    }

    private async Task TellPeerStandbyLeavesAsync(CancellationToken cancellationToken)
    {
        if (PeerUrl is null)
            return;
        try
        {
            await peer.CallAsync<PeerHello>(PeerUrl, "/peer/standby-leaving", Hello(), TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or OperationCanceledException)
        {
            logger.LogWarning("Could not tell {Peer} that this standby leaves: {Error}", _state.PeerName, ex.Message);
        }
    }

    /// <summary>The heartbeat arriving from the peer counts as seeing it, and may carry a higher epoch.</summary>
    public async Task<PeerHello> ReceiveHeartbeatAsync(PeerHello from, CancellationToken cancellationToken)
    {
        Peer = new PeerObservation(from, time.GetTimestamp());
        if (ClusterRules.OnPeerEpoch(Facts(), from) is { } fence)
            await FenceNowAsync(fence);
        else if (Role == NodeRole.Active && Mode != ReplicationMode.Sync && from is { Role: NodeRole.Standby } && from.Node == _state.PeerName
                 && Interlocked.CompareExchange(ref _synchronizing, 1, 0) == 0)
            _ = SynchronizeSoonAsync();
        return Hello();
    }

    private int _synchronizing;
    private bool _syncRecorded;

    /// <summary>Tells the witness which standby this active's commits wait for; false if it could not be told.</summary>
    private async Task<bool> RecordSyncStandbyAsync(string? standby, CancellationToken cancellationToken)
    {
        if (!witness.Configured)
            return true;
        try
        {
            var recorded = await witness.SetSyncStandbyAsync(_state.ClusterName, Name, Epoch, standby, cancellationToken);
            _syncRecorded = recorded && standby is not null;
            return recorded;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _syncRecorded = false;
            logger.LogWarning("Could not record sync standby {Standby} at the witness: {Error}", standby ?? "none", ex.Message);
            return false;
        }
    }

    /// <summary>
    /// Takes the transition lock within a timeout on the supervisor's clock, trying every 10 ms: SemaphoreSlim's own
    /// timed wait runs on real timers and the thread pool, which the deterministic simulator cannot follow.
    /// </summary>
    private async Task<bool> WaitForTransitionAsync(TimeSpan timeout)
    {
        var started = time.GetTimestamp();
        while (!await _transition.WaitAsync(0))
        {
            if (time.GetElapsedTime(started) >= timeout)
                return false;
            await Task.Delay(TimeSpan.FromMilliseconds(10), time);
        }
        return true;
    }

    /// <summary>
    /// The peer says it is a standby (it has just rejoined) while this active is not synchronous: look at the
    /// database every 20 ms for a second, and turn synchronous once it streams, instead of waiting for the lease
    /// loop's next probe and the next heartbeat after it (up to 0.6 s of rejoin time).
    /// </summary>
    private async Task SynchronizeSoonAsync()
    {
        try
        {
            var started = time.GetTimestamp();
            while (Role == NodeRole.Active && Mode != ReplicationMode.Sync && time.GetElapsedTime(started) < TimeSpan.FromSeconds(1))
            {
                var reading = time.GetTimestamp();
                var state = await ReadDatabaseAsync(CancellationToken.None);
                if (state.Standbys.Any(s => s.Name == _state.PeerName && s.State == "streaming"))
                {
                    if (!await WaitForTransitionAsync(TimeSpan.FromMilliseconds(500)))
                        return;
                    try
                    {
                        // The same step as a heartbeat's, with this fresher view of the database.
                        if (Role == NodeRole.Active && Mode != ReplicationMode.Sync)
                        {
                            Observe(state, reading);
                            await ActiveTickAsync(CancellationToken.None);
                        }
                    }
                    finally
                    {
                        _transition.Release();
                        Publish();
                    }
                    return;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(20), time);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning("Turning synchronous for the rejoined standby failed: {Error}", ex.Message);
        }
        finally
        {
            Interlocked.Exchange(ref _synchronizing, 0);
        }
    }

    // ---------------------------------------------------------------- heartbeat tick

    public async Task TickAsync(CancellationToken cancellationToken)
    {
        if (!_state.Deployed || Role == NodeRole.Standalone)
        {
            var reading = time.GetTimestamp();
            var state = await database.ReadStateAsync(cancellationToken);
            Observe(state, reading);
            if (state.Running)
                _lastDatabaseOk = reading;
            else if (ClusterRules.RestartStandaloneDatabase(Facts(), database.IsManaged, time.GetElapsedTime(_lastDatabaseOk), time.GetElapsedTime(_lastJoinAttempt), _ha)
                     && await _transition.WaitAsync(0, cancellationToken))
            {
                // The only writer's own server died (killed, out of memory): start it again (found by the simulator, seed 394).
                try
                {
                    _lastJoinAttempt = time.GetTimestamp();
                    logger.LogWarning("This standalone node's database is down; starting it");
                    await database.StartAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning("Starting the database failed: {Error}", ex.Message);
                }
                finally
                {
                    _transition.Release();
                }
            }
            Publish();
            return;
        }
        if (!await _transition.WaitAsync(0, cancellationToken))
            return;
        try
        {
            // An active's state is read by the lease loop every heartbeat already; read it here only otherwise.
            if (Role != NodeRole.Active)
            {
                var reading = time.GetTimestamp();
                Observe(Role == NodeRole.Stopped ? DatabaseState.Down : await ReadDatabaseAsync(cancellationToken), reading);
            }
            PeerHello? hello = null;
            var writerGone = false;
            if (PeerUrl is { } url && Role != NodeRole.Stopped)
            {
                var sent = time.GetTimestamp();
                (hello, writerGone) = await HeartbeatAsync(url, cancellationToken);
                // A heartbeat the peer sent meanwhile is as new as this answer or newer: an answer made before the peer
                // said "handing over" must not take that back.
                if (hello is not null && Peer.LastSeenTimestamp < sent)
                    Peer = new PeerObservation(hello, time.GetTimestamp());
            }
            if (Role != NodeRole.Active && vip.Held)
                await vip.ReleaseAsync();
            else if (Role != NodeRole.Active && !_leftoverVipDropped && _state.Vip is { } leftover)
            {
                // Once per process: an address this host still carries from a killed process would answer ARP beside the active.
                _leftoverVipDropped = true;
                await vip.DropLeftoverAsync(leftover);
            }
            if (hello is not null && ClusterRules.OnPeerEpoch(Facts(), hello) is { } fence)
            {
                await FenceLockedAsync(fence.Reason, cancellationToken);
                return;
            }
            switch (Role)
            {
                case NodeRole.Active:
                    await ActiveTickAsync(cancellationToken);
                    break;
                case NodeRole.Standby:
                    await StandbyTickAsync(writerGone, cancellationToken);
                    break;
                case NodeRole.Stopped when ClusterRules.ShouldRetryJoin(Facts(), Volatile.Read(ref _fencing) != 0,
                                               _lastJoinAttempt == 0 ? null : time.GetElapsedTime(_lastJoinAttempt)):
                    _lastJoinAttempt = time.GetTimestamp();
                    await JoinLockedAsync(operatorAsked: false, cancellationToken);
                    break;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning("Cluster tick failed: {Error}", ex.Message);
        }
        finally
        {
            _transition.Release();
            Publish();
        }
    }

    /// <summary>
    /// One heartbeat. A heartbeat to a frozen peer hangs until its deadline: one that ends when the peer would be judged
    /// lost keeps the standby's takeover on time (it came up to 0.4 s late). While a standby's heartbeat is late it
    /// also looks, every quarter heartbeat, for evidence that no writer is left on the peer's host (its PostgreSQL port
    /// refuses, as it does once a frozen active's database guard has killed the server), and stops waiting when it
    /// finds it (decision 0042).
    /// </summary>
    private async Task<(PeerHello? Hello, bool WriterGone)> HeartbeatAsync(Uri url, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(ClusterRules.HeartbeatDeadline(PeerAge, _ha), time);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var heartbeat = peer.HeartbeatAsync(url, Hello(), bounded.Token);
        if (Role != NodeRole.Standby || PeerDatabase is not { } database)
            return (await heartbeat, false);
        using var answered = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watching = WatchForWriterGoneAsync(database, bounded, answered.Token);
        var hello = await heartbeat;
        answered.Cancel();
        if (await watching)
            return (null, true);
        // A heartbeat refused at once (a crashed host) gets the same look, once.
        return (hello, hello is null && await peer.DatabaseRefusesAsync(database, cancellationToken));
    }

    /// <summary>
    /// Every quarter heartbeat until the heartbeat is answered: does the peer's PostgreSQL port refuse? If so the heartbeat
    /// is given up. (No Task.WhenAny here: a delay on a TimeProvider completes its waiters on the thread pool, which
    /// the simulator's single thread cannot follow.)
    /// </summary>
    private async Task<bool> WatchForWriterGoneAsync(DatabaseEndpoint database, CancellationTokenSource heartbeat, CancellationToken answered)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_ha.HeartbeatInterval / 4, time, answered);
                if (heartbeat.IsCancellationRequested)
                    return false;
                if (await peer.DatabaseRefusesAsync(database, answered))
                {
                    heartbeat.Cancel();
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private bool _leftoverVipDropped;

    /// <summary>Where the peer's PostgreSQL listens, when a witness could judge a takeover on evidence found there.</summary>
    private DatabaseEndpoint? PeerDatabase =>
        witness.Configured && _state.PeerDatabaseHost is { } host ? new DatabaseEndpoint(host, _state.PeerDatabasePort) : null;

    /// <summary>
    /// Keeps an active's proof of life apart from the heartbeat and from role transitions, which may hold
    /// the transition lock for a while: every heartbeat interval it probes its own database and renews the
    /// lease, both at once. The watchdog judges the results.
    /// </summary>
    private async Task LeaseLoopAsync()
    {
        using var timer = new PeriodicTimer(_ha.HeartbeatInterval, time);
        Task? probe = null;
        while (await timer.WaitForNextTickAsync())
        {
            if (Role != NodeRole.Active || Volatile.Read(ref _fencing) != 0)
                continue;
            try
            {
                // A slow probe (a database busy with clients) must not space out the renewals: the next probe starts
                // when the last one has answered, and the renewal goes on every heartbeat regardless.
                if (probe is null || probe.IsCompleted)
                    probe = ProbeDatabaseAsync();
                _renewalAskedAt = time.GetTimestamp();
                var renewed = witness.Configured ? await TryRenewLeaseAsync(CancellationToken.None) : true;
                _renewalAnsweredAt = time.GetTimestamp();
                if (ClusterRules.OnLeaseAnswer(Facts(), renewed, Lease) is { } fence)
                    await FenceNowAsync(fence);
            }
            catch (Exception ex)
            {
                logger.LogWarning("Lease renewal failed: {Error}", ex.Message);
            }
        }
    }

    /// <summary>Reads the database and takes the reading in at once: a reading kept for a heartbeat goes stale.</summary>
    private async Task ProbeDatabaseAsync()
    {
        var probing = time.GetTimestamp();
        Observe(await ReadDatabaseAsync(CancellationToken.None), probing);
    }

    /// <summary>
    /// One renewal: true if renewed, false if refused (then <see cref="Lease"/> is the witness's current lease), null if
    /// the witness did not answer.
    /// </summary>
    private async Task<bool?> TryRenewLeaseAsync(CancellationToken cancellationToken)
    {
        try
        {
            // The lease runs from when the witness renewed it, which is after we asked: count from the asking.
            var asked = time.GetTimestamp();
            if (await witness.RenewAsync(_state.ClusterName, Name, Epoch, _ha.FailoverTimeout, cancellationToken))
            {
                _lastRenewal = asked;
                WitnessReachable = true;
                Lease = new LeaseState(Epoch, Name, false, _ha.FailoverTimeoutMs);
                return true;
            }
            WitnessReachable = true;
            Lease = await witness.ReadAsync(_state.ClusterName, cancellationToken);
            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            WitnessReachable = false;
            return null;
        }
    }

    private readonly Lock _databaseLock = new();
    private long _databaseReadAt;

    /// <summary>
    /// Keeps the freshest view of the database: a lease-loop probe started before the read that turned the active
    /// synchronous (and taken in before the standby streamed) must not make the next heartbeat degrade it again.
    /// </summary>
    private void Observe(DatabaseState state, long readStarted)
    {
        lock (_databaseLock)
        {
            if (readStarted < _databaseReadAt)
                return;
            Database = state;
            _databaseReadAt = readStarted;
        }
    }

    /// <summary>Reads the local database's state within half a failover timeout; a hung server counts as down.</summary>
    private async Task<DatabaseState> ReadDatabaseAsync(CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource((Role == NodeRole.Active ? _ha.DatabaseTimeout : _ha.FailoverTimeout) / 2, time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            var state = await database.ReadStateAsync(timeout.Token);
            if (state.Running)
                _lastDatabaseOk = time.GetTimestamp();
            return state;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return DatabaseState.Down;
        }
    }

    private async Task TryAcquireVipAsync(CancellationToken cancellationToken)
    {
        if (_state.Vip is not { } address || vip.Held)
            return;
        try
        {
            await vip.AcquireAsync(address, cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Net.Sockets.SocketException)
        {
            logger.LogWarning("VIP {Address} not acquired yet ({Error}); retrying every heartbeat", address, ex.Message);
        }
    }

    private async Task ActiveTickAsync(CancellationToken cancellationToken)
    {
        await TryAcquireVipAsync(cancellationToken);
        var streaming = Database.Standbys.Any(s => s.Name == _state.PeerName && s.State == "streaming");
        switch (ClusterRules.OnActiveTick(Facts(), streaming, WitnessReachable))
        {
            case ActiveStep.TurnSync:
                await TurnSyncLockedAsync(cancellationToken);
                break;
            case ActiveStep.ConsiderDegrade:
                // Degrade only while the witness confirms the standby is gone, and only once the witness no longer names
                // it as the standby that may take over: from then on commits no longer wait for it.
                var seen = await witness.LastSeenAsync(_state.ClusterName, _state.PeerName!, cancellationToken);
                if (ClusterRules.StandbyGone(seen, _ha) && await RecordSyncStandbyAsync(null, cancellationToken))
                {
                    await database.SetSynchronousStandbyAsync(null, cancellationToken);
                    Mode = ReplicationMode.Async;
                    logger.LogWarning("Standby {Peer} gone (witness last saw it {Age}); replication now asynchronous", _state.PeerName, seen);
                }
                break;
            case ActiveStep.MarkAsync:
                Mode = ReplicationMode.Async;
                break;
        }
    }

    /// <summary>Commits wait for the standby; it is named at the witness (so it may take over) only once it holds every write acknowledged so far.</summary>
    private async Task TurnSyncLockedAsync(CancellationToken cancellationToken)
    {
        var confirmed = await database.SetSynchronousStandbyAsync(_state.PeerName, cancellationToken);
        if (Mode != ReplicationMode.Sync)
            logger.LogInformation("Standby {Peer} streams: replication synchronous", _state.PeerName);
        Mode = ReplicationMode.Sync;
        if (confirmed)
            await RecordSyncStandbyAsync(_state.PeerName, cancellationToken);
    }

    private async Task StandbyTickAsync(bool writerGone, CancellationToken cancellationToken)
    {
        // The standby's own PostgreSQL died (killed, out of memory): rejoin, which restarts and repairs it.
        if (ClusterRules.StandbyDatabaseLost(Database.Running, time.GetElapsedTime(_lastDatabaseOk), _ha))
        {
            logger.LogWarning("This standby's database is down for {Age:0} ms; rejoining", time.GetElapsedTime(_lastDatabaseOk).TotalMilliseconds);
            _lastJoinAttempt = 0;
            SetRole(NodeState.Joining, "database stopped unexpectedly; rejoining the cluster");
            return;
        }
        if (witness.Configured)
        {
            try
            {
                // Seen only while streaming: a standby whose database died must let the active degrade.
                if (Database.ReceiverStatus == "streaming")
                    await witness.ReportSeenAsync(_state.ClusterName, Name, cancellationToken);
                Lease = await witness.ReadAsync(_state.ClusterName, cancellationToken);
                WitnessReachable = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                WitnessReachable = false;
            }
        }
        var age = PeerAge;
        var step = ClusterRules.OnStandbyTick(Facts(), Peer.Last, age, writerGone, Lease, WitnessReachable, _ha);
        TakeoverNeedsOperator = step.NeedsOperator;
        if (!step.TryTakeOver)
            return;
        // Only the standby the active last recorded at the witness as synchronous has every acknowledged write; the
        // witness checks that, the expiry and the epoch in one compare-and-set. After a degrade it names nobody.
        var detected = time.GetTimestamp();
        _lastRenewal = detected;
        if (step.AlreadyGranted || await witness.TryTakeOverAsync(_state.ClusterName, Name, Epoch, step.WriterGone, _ha.FailoverTimeout, cancellationToken))
        {
            var why = step.WriterGone ? "gone (its host refuses connections to its PostgreSQL)" : "unreachable";
            logger.LogWarning("Active {Peer} {Why} ({Age:0} ms since last heard); the witness granted epoch {Epoch}: taking over",
                _state.PeerName, why, age?.TotalMilliseconds ?? -1, Epoch + 1);
            await PromoteLockedAsync($"crash failover: {_state.PeerName} {why} ({(age ?? _ha.FailoverTimeout).TotalMilliseconds:0} ms since last heard)",
                _state.PeerName ?? "", detected, cancellationToken);
            return;
        }
        // Refused: the lease has not expired yet (the active may still be writing), or it does not name this node as
        // the sync standby: then only the operator may choose to lose writes (ha_takeover).
        TakeoverNeedsOperator = ClusterRules.TakeoverRefusedNeedsOperator(Facts(), Lease);
    }

    // ---------------------------------------------------------------- transitions

    private async Task<TimeSpan> PromoteLockedAsync(string cause, string from, long started, CancellationToken cancellationToken, StepTimer? steps = null)
    {
        var own = steps is null;
        steps ??= new StepTimer(time);
        var promote = await database.PromoteAsync(cancellationToken);
        steps.Step("promote");
        _state.Epoch++;
        Mode = ReplicationMode.Async;
        await ActivateLockedAsync(cancellationToken, steps);
        var total = time.GetElapsedTime(started);
        var record = new FailoverRecord(clock.UtcNow, cause, from, Name, Epoch, Math.Round(total.TotalMilliseconds, 1));
        await JournalAsync(ct => journal.RecordTakeoverAsync(record, ct), "the takeover into the cluster document", TimeSpan.FromSeconds(5), cancellationToken);
        await Record(EventCategory.Cluster, "Failover", $"{cause}: {from} → {Name}, epoch {Epoch}, {total.TotalMilliseconds:0} ms", cancellationToken);
        steps.Step("journal");
        if (own)
            logger.LogInformation("Takeover steps: {Steps}", steps);
        return promote;
    }

    private async Task ActivateLockedAsync(CancellationToken cancellationToken, StepTimer? steps = null)
    {
        steps ??= new StepTimer(time);
        // Renew at once: the watchdog counts from the last renewal, and promotion took some of the lease.
        await RequireLeaseAsync(cancellationToken);
        steps.Step("renewal");
        SaveIntent(NodeIntent.Member, NodeRole.Active);
        TakeoverNeedsOperator = false;
        if (_state.PeerName is { } standby)
            await database.EnsureStandbySlotAsync(standby, cancellationToken);
        // What the database does decides the mode: a resumed active's server still waits for the standby it named.
        var state = await ReadDatabaseAsync(cancellationToken);
        if (state.Running)
        {
            Mode = string.IsNullOrEmpty(state.SyncStandbyNames) ? ReplicationMode.Async : ReplicationMode.Sync;
            _syncRecorded = false;
        }
        steps.Step("slot and mode");
        // Again right before the role and the VIP: the calls above may have waited for a frozen or slow database while
        // the lease expired and the other node took over (simulator, seeds 750 and 9139).
        await RequireLeaseAsync(cancellationToken);
        // The role before the VIP: the first client through the VIP must not meet the standby page.
        SetRole(NodeState.Active, _state.Vip is null ? "active" : $"active, holding VIP {_state.Vip}");
        steps.Step("renewal");
        await TryAcquireVipAsync(cancellationToken);
        steps.Step("VIP");
        // Only a new version changes the schema; clients already reach the node meanwhile.
        await journal.ApplySchemaAsync(cancellationToken);
        steps.Step("schema");
    }

    /// <summary>
    /// Renews the lease on the way to the active role; if the witness shows it went to another node, this one must not
    /// take the role, nor the VIP from the node that has it: it fences itself and the caller's transition fails.
    /// </summary>
    private async Task RequireLeaseAsync(CancellationToken cancellationToken)
    {
        var renewed = witness.Configured ? await TryRenewLeaseAsync(cancellationToken) : true;
        // A positive renewal, not "not known to be superseded": an unanswered witness proves nothing (simulator, seed 2855).
        if (ClusterRules.OnActivationLease(Facts(), renewed, Lease) is not { } fence)
            return;
        await database.KillAsync(cancellationToken);
        // Superseded: the other node has the newer data. Unconfirmed only (the witness did not answer): this node is
        // still the last active of its epoch, and resumes once the witness answers.
        SaveIntent(NodeIntent.Member, fence.LastRole);
        _lastJoinAttempt = time.GetTimestamp();
        SetRole(NodeState.Fenced, fence.Reason);
        throw new WrongStateException($"{Name} could not confirm its lease on its way to the active role ({Reason})");
    }

    /// <summary>
    /// Checks every 50 ms, apart from the heartbeat (whose calls may hang on a dead network), whether this
    /// active has lost both the peer and the witness for FenceAfter; if so it fences at once, well before
    /// the witness lets the standby take the lease.
    /// </summary>
    private async Task WatchdogAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50), time);
        var lastTick = time.GetTimestamp();
        while (await timer.WaitForNextTickAsync())
        {
            var tickGap = time.GetElapsedTime(lastTick);
            lastTick = time.GetTimestamp();
            if (Volatile.Read(ref _fencing) != 0)
                continue;
            var databaseSilent = time.GetElapsedTime(_lastDatabaseOk);
            // Only a database already silent for a while is looked at: reading the server's process state costs a file read.
            var databaseStopped = databaseSilent > _ha.StoppedDatabaseFenceAfter && Role == NodeRole.Active && database.IsStoppedOrGone;
            if (ClusterRules.OnWatchdog(Facts(), time.GetElapsedTime(_lastRenewal), PeerAge, databaseSilent, databaseStopped, _ha) is { } fence)
            {
                logger.LogWarning("Watchdog fence: {Timing}", DescribeLeaseTiming(tickGap));
                await FenceNowAsync(fence);
            }
        }
    }

    private long _renewalAskedAt;
    private long _renewalAnsweredAt;

    /// <summary>
    /// Says where the time went when the watchdog fences: a renewal still unanswered (the witness or the network is
    /// slow) reads differently from a lease loop that did not run (the process was starved of threads or CPU).
    /// </summary>
    private string DescribeLeaseTiming(TimeSpan watchdogTickGap)
    {
        var asked = _renewalAskedAt == 0 ? (TimeSpan?)null : time.GetElapsedTime(_renewalAskedAt);
        var answered = _renewalAnsweredAt >= _renewalAskedAt && _renewalAskedAt != 0;
        var renewal = asked is not { } ago ? "no renewal asked yet"
            : answered ? $"the last renewal was asked {ago.TotalMilliseconds:0} ms ago and answered in {time.GetElapsedTime(_renewalAskedAt, _renewalAnsweredAt).TotalMilliseconds:0} ms"
            : $"the last renewal was asked {ago.TotalMilliseconds:0} ms ago and is still unanswered";
        return $"{renewal}; the watchdog's own tick came {watchdogTickGap.TotalMilliseconds:0} ms after the one before (50 ms planned); "
            + $"thread pool: {ThreadPool.ThreadCount} threads, {ThreadPool.PendingWorkItemCount} work items queued";
    }

    /// <summary>
    /// Stops writing at once, without waiting for the transition lock: the VIP goes first, then the
    /// database is killed. lastRole says whether this node may still resume as the last active.
    /// </summary>
    private async Task FenceNowAsync(Fence fence)
    {
        var (reason, lastRole, _) = fence;
        if (Role != NodeRole.Active || Interlocked.CompareExchange(ref _fencing, 1, 0) != 0)
            return;
        _lastJoinAttempt = time.GetTimestamp();
        var steps = new StepTimer(time);
        try
        {
            SetRole(NodeState.Fenced, $"stepped down: {reason}");
            await vip.ReleaseAsync();
            steps.Step("VIP release");
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Releasing the VIP while fencing failed");
        }
        finally
        {
            await database.KillAsync(CancellationToken.None);
            steps.Step("database kill");
            SaveIntent(NodeIntent.Member, lastRole);
            _lastJoinAttempt = time.GetTimestamp();
            steps.Step("intent saved");
            if (fence.HandBackLease)
            {
                await HandBackLeaseAsync();
                steps.Step("lease handed back");
            }
            logger.LogWarning("Fenced: {Reason} ({Steps})", reason, steps);
            Interlocked.Exchange(ref _fencing, 0);
        }
    }

    private int _fencing;

    /// <summary>
    /// Ends this fenced node's lease now (a renewal with no time left), so the sync standby may take over without waiting
    /// for it to run out: the database is killed, and what it had not acknowledged it never will. Its stopped backends
    /// wait for the sync standby, and exit without an answer once they find their postmaster gone.
    /// </summary>
    private async Task HandBackLeaseAsync()
    {
        if (!witness.Configured)
            return;
        using var deadline = new CancellationTokenSource(_ha.HeartbeatInterval * 2, time);
        try
        {
            if (await witness.RenewAsync(_state.ClusterName, Name, Epoch, TimeSpan.Zero, deadline.Token))
                logger.LogWarning("Lease of epoch {Epoch} handed back to the witness: the standby may take over now", Epoch);
        }
        catch (Exception ex)
        {
            logger.LogWarning("Could not hand the lease back ({Error}); it runs out in {Timeout} ms", ex.Message, _ha.FailoverTimeoutMs);
        }
    }

    /// <summary>Stops writing at once: the VIP goes first, then the database; the node rejoins when it can.</summary>
    private async Task FenceLockedAsync(string reason, CancellationToken cancellationToken)
    {
        if (Role != NodeRole.Active)
            return;
        await vip.ReleaseAsync();
        SetRole(NodeState.Fenced, $"stepped down: {reason}");
        await database.StopAsync(cancellationToken);
        SaveIntent(NodeIntent.Member, NodeRole.Standby);
        _lastJoinAttempt = time.GetTimestamp();
        logger.LogWarning("Stepped down: {Reason}", reason);
    }

    private void RequireDeployed(string verb)
    {
        if (!_state.Deployed)
            throw new WrongStateException(_state.Intent == NodeIntent.Discarded
                ? $"{verb}: {Name} was {DiscardedText()}."
                : $"{verb}: the cluster is not running on this node ({Name} is {Role}).");
    }

    private void SaveIntent(NodeIntent intent, NodeRole lastRole)
    {
        _state.Intent = intent;
        _state.LastRole = lastRole;
        store.Save(_state);
    }

    private void SetRole(NodeState state, string reason)
    {
        var role = NodeStates.RoleOf(state);
        NodeState = state;
        // A node that just became standby gives the active a full timeout before judging it lost.
        if (role == NodeRole.Standby && Role != NodeRole.Standby)
        {
            Peer = Peer with { LastSeenTimestamp = time.GetTimestamp() };
        }
        if (role == NodeRole.Active && Role != NodeRole.Active)
        {
            _lastDatabaseOk = time.GetTimestamp();
            database.GuardWhileActive(true);
        }
        else if (role != NodeRole.Active && Role == NodeRole.Active)
            database.GuardWhileActive(false);
        if (role != Role)
            logger.LogInformation("Role {From} → {To}: {Reason}", Role, role, reason);
        Role = role;
        Reason = reason;
        Publish();
    }

    private void Publish()
    {
        var snapshot = $"{Role}|{Reason}|{Epoch}|{Mode}|{Peer.Last?.Role}|{PeerAge?.TotalSeconds > 1}|{WitnessReachable}|{vip.Held}";
        if (snapshot == _lastSnapshot)
            return;
        _lastSnapshot = snapshot;
        notifier.Publish(ChangeTopic.Node);
    }

    private async Task<LeaseState?> TryReadLeaseAsync(CancellationToken cancellationToken)
    {
        try
        {
            Lease = await witness.ReadAsync(_state.ClusterName, cancellationToken);
            WitnessReachable = true;
            return Lease;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            WitnessReachable = false;
            return null;
        }
    }

    /// <summary>
    /// Writes an Event Log line in the background: a commit may wait for a standby that is gone (a resumed active's
    /// server still names it), and a transition must never wait for that while it holds the lock (simulator, seed 200).
    /// </summary>
    private Task Record(EventCategory category, string action, string detail, CancellationToken cancellationToken)
    {
        if (!AcceptsWrites)
            return Task.CompletedTask;
        var entry = Domain.Events.EventLogEntry.Record(clock.UtcNow, Name, category, action, Name, EventOutcome.Success, detail);
        _ = JournalAsync(ct => journal.RecordEventAsync(entry, ct), $"the Event Log line {action}", TimeSpan.FromSeconds(30), cancellationToken)
            .ContinueWith(written => { if (written.Result) notifier.Publish(ChangeTopic.Events); }, CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Current);
        return Task.CompletedTask;
    }

    /// <summary>A write of the cluster's own records, given up after a timeout rather than left to hang a transition.</summary>
    private async Task<bool> JournalAsync(Func<CancellationToken, Task> write, string what, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await write(linked.Token);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || deadline.IsCancellationRequested)
        {
            logger.LogWarning("Could not write {What}: {Error}", what, ex.Message);
            return false;
        }
    }
}
