using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

/// <summary>What a node knows about itself when it decides: a snapshot, no I/O.</summary>
public sealed record NodeFacts(
    string Name,
    NodeState State,
    long Epoch,
    NodeIntent Intent,
    NodeRole LastRole,
    string? PeerName,
    bool WitnessConfigured,
    ReplicationMode Mode,
    bool SyncRecorded)
{
    public NodeRole Role => NodeStates.RoleOf(State);
}

/// <summary>
/// Step down now. LastRole says whether the node may still resume as the last active (its data is the newest).
/// HandBackLease: once its database is killed, the node ends its lease at the witness instead of letting it run out, so
/// the sync standby may take over at once.
/// </summary>
public sealed record Fence(string Reason, NodeRole LastRole, bool HandBackLease = false);

/// <summary>What a node that is not serving decides when it (re)joins; the supervisor carries it out.</summary>
public abstract record JoinPlan
{
    /// <summary>Rewind or clone from the active peer and stream from it (G7).</summary>
    public sealed record Follow(PeerHello Active) : JoinPlan;
    /// <summary>
    /// Stay out: not entitled to write, or cannot prove it is. KeepTrying saves the node as a member, so it tries again
    /// every second even when the operator's ha_cluster_start brought it here.
    /// </summary>
    public sealed record Wait(NodeState State, string Reason, bool StopDatabase, bool KeepTrying = false) : JoinPlan;
    /// <summary>The witness names this node holder of the next epoch, won and never taken up (G9).</summary>
    public sealed record FinishTakeover(long Epoch) : JoinPlan;
    /// <summary>Ask the witness for the next epoch as the recorded sync standby (G2); if refused, <see cref="Otherwise"/>.</summary>
    public sealed record TakeOver(string Cause, Wait Otherwise) : JoinPlan;
    /// <summary>The last active writes again, once the witness renewed its lease at its epoch (G8) when there is one.</summary>
    public sealed record Resume(bool RenewLease) : JoinPlan;
}

/// <summary>What a standby does after a heartbeat. WriterGone: the peer's PostgreSQL port refused, so the lease need not run out.</summary>
public sealed record StandbyStep(bool PeerLost, bool NeedsOperator, bool TryTakeOver, bool AlreadyGranted, bool WriterGone = false);

public enum ActiveStep
{
    None,
    /// <summary>The standby streams: make commits wait for it, then name it at the witness once it has caught up.</summary>
    TurnSync,
    /// <summary>The standby does not stream: ask the witness when it last saw it, and maybe degrade.</summary>
    ConsiderDegrade,
    /// <summary>No standby was ever seen since activation: replication is asynchronous.</summary>
    MarkAsync,
}

public enum HandoverAnswer
{
    Proceed,
    /// <summary>Promoted from this very handover already (the peer lost the answer and asked again).</summary>
    AlreadyDone,
}

/// <summary>
/// Every decision a cluster node makes, as pure functions of what it knows (<see cref="NodeFacts"/>), what it just observed
/// and the time elapsed; no I/O, no clock. <see cref="ClusterSupervisor"/> is the driver: it gathers the observations
/// (heartbeats, witness answers, database probes, timers, operator verbs, peer requests), asks here, and carries out the
/// answer (promote, fence, rewind, clone, VIP, lease, tell the peer). docs/cluster-states.md draws the states; the guard
/// names G1-G11 are its table's. A refusal is a <see cref="WrongStateException"/>'s message, or null to go on.
/// </summary>
public static class ClusterRules
{
    // ---------------------------------------------------------------- an active keeping its right to write

    /// <summary>
    /// G4, G5: an active that lost both the peer and the witness, or its own database, fences itself. A database that
    /// is silent because its server is stopped by a signal (SIGSTOP, a debugger) or gone (killed) is lost on that
    /// evidence after <see cref="HaOptions.StoppedDatabaseFenceAfter"/>; one that is merely slow gets the whole database
    /// timeout (decisions 0038, 0042).
    /// </summary>
    public static Fence? OnWatchdog(NodeFacts node, TimeSpan sinceRenewal, TimeSpan? peerAge, TimeSpan databaseSilent, bool databaseStopped, HaOptions ha)
    {
        if (node.Role != NodeRole.Active || !node.WitnessConfigured)
            return null;
        var peer = peerAge ?? TimeSpan.MaxValue;
        if (sinceRenewal > ha.FenceAfter && peer > ha.FenceAfter)
            return new Fence($"lost both the peer ({peer.TotalMilliseconds:0} ms) and the witness ({sinceRenewal.TotalMilliseconds:0} ms)", NodeRole.Active);
        // The witness still answers this node, so it can end the lease: the standby need not wait for it to run out.
        if (databaseSilent > ha.DatabaseFenceAfter)
            return new Fence($"its own database has not answered for {databaseSilent.TotalMilliseconds:0} ms", NodeRole.Active, HandBackLease: true);
        if (databaseStopped && databaseSilent > ha.StoppedDatabaseFenceAfter)
            return new Fence($"its own database has not answered for {databaseSilent.TotalMilliseconds:0} ms and its server is stopped by a signal or gone",
                NodeRole.Active, HandBackLease: true);
        return null;
    }

    /// <summary>
    /// G6 from the lease loop: a renewal refused (renewed false) while the witness shows a newer epoch means another node
    /// holds the lease. An unanswered renewal (null) is the watchdog's to judge, not a reason by itself. A newer epoch
    /// held by this node is its own ha_teardown's, whose answer has not arrived yet (simulator, seed 7397).
    /// </summary>
    public static Fence? OnLeaseAnswer(NodeFacts node, bool? renewed, LeaseState? lease) =>
        node.Role == NodeRole.Active && renewed == false && lease is not null && lease.Epoch > node.Epoch && lease.Holder != node.Name
            ? new Fence($"the witness granted epoch {lease.Epoch} to {lease.Holder}", NodeRole.Standby)
            : null;

    /// <summary>G6 from a heartbeat, sent or received: an active that sees a newer epoch is no longer entitled to write.</summary>
    public static Fence? OnPeerEpoch(NodeFacts node, PeerHello peer) =>
        EpochRules.MustStepDown(node.Role, node.Epoch, peer.Epoch)
            ? new Fence($"{peer.Node} is at epoch {peer.Epoch}, newer than this node's {node.Epoch}", NodeRole.Standby)
            : null;

    /// <summary>
    /// G11: on its way to the active role the node needs a positive renewal (an unanswered witness proves nothing). When
    /// refused it fences; LastRole is Standby only if the witness shows the lease went elsewhere.
    /// </summary>
    public static Fence? OnActivationLease(NodeFacts node, bool? renewed, LeaseState? lease)
    {
        if (!node.WitnessConfigured || renewed == true)
            return null;
        var superseded = renewed == false && lease is not null && (lease.Holder != node.Name || lease.Epoch != node.Epoch);
        return new Fence(renewed is null
                ? "stepped down before taking the role: the witness did not confirm the lease"
                : $"stepped down before taking the role: the witness granted epoch {lease?.Epoch} to {lease?.Holder}",
            superseded ? NodeRole.Standby : NodeRole.Active);
    }

    // ---------------------------------------------------------------- replication mode of an active

    /// <summary>Sync once the standby streams (and named at the witness once confirmed); degrade only with the witness's word.</summary>
    public static ActiveStep OnActiveTick(NodeFacts node, bool standbyStreaming, bool? witnessReachable)
    {
        if (standbyStreaming && (node.Mode != ReplicationMode.Sync || (node.WitnessConfigured && !node.SyncRecorded)))
            return ActiveStep.TurnSync;
        if (!standbyStreaming && node.Mode == ReplicationMode.Sync && node.WitnessConfigured && witnessReachable == true)
            return ActiveStep.ConsiderDegrade;
        return node.Mode == ReplicationMode.None ? ActiveStep.MarkAsync : ActiveStep.None;
    }

    /// <summary>
    /// Degrade only while the witness confirms the standby is gone (it reports itself seen only while streaming); the
    /// record naming it goes first, then commits stop waiting (decision 0020).
    /// </summary>
    public static bool StandbyGone(TimeSpan? witnessLastSaw, HaOptions ha) => witnessLastSaw is null || witnessLastSaw > ha.FailoverTimeout;

    // ---------------------------------------------------------------- a standby watching the active

    /// <summary>The standby's own PostgreSQL is gone for a failover timeout: it rejoins, which restarts and repairs it.</summary>
    public static bool StandbyDatabaseLost(bool running, TimeSpan silentFor, HaOptions ha) => !running && silentFor > ha.FailoverTimeout;

    /// <summary>The peer stopped on purpose to hand over, and will ask for the promotion itself (an older peer says so in words).</summary>
    public static bool IsHandingOver(PeerHello hello) =>
        hello.State == NodeState.HandingOver || (hello.State == NodeState.Unknown && hello.Reason == ClusterSupervisor.HandingOverText);

    /// <summary>
    /// G2: the active is lost (silent for a failover timeout, stopped other than to hand over, its database gone, or its
    /// host refusing connections on its PostgreSQL port), and the witness answered: ask it for the next epoch, unless the
    /// lease at epoch + 1 is already this node's (a handover's transfer). With the refusal as evidence that no writer is
    /// left the witness need not wait for the lease to run out (decisions 0031, 0042), but only against a peer last heard
    /// as active: it still grants only its recorded sync standby. A frozen active gives that evidence too, once its database guard has killed its server. Without a
    /// witness only the operator may take over.
    /// </summary>
    public static StandbyStep OnStandbyTick(NodeFacts node, PeerHello? peer, TimeSpan? peerAge, bool peerDatabaseRefuses, LeaseState? lease,
        bool? witnessReachable, HaOptions ha)
    {
        var peerDown = peer is { Role: NodeRole.Stopped } && !IsHandingOver(peer) || peer is { Role: NodeRole.Active, DatabaseOk: false };
        // The refusal is evidence against a writer that was there: a peer last heard as active. A peer handing over
        // stopped its database on purpose and asks for the promotion itself; a peer that restarted and is rejoining has
        // its database down while it decides, and may resume at its own epoch the next moment: against its lease only
        // the expiry counts (chaos run, witness down + crash: it renewed, started its server, and the standby's
        // evidence-based takeover made two writable servers for ~100 ms until the restarted node's second check).
        var writerGone = peerDatabaseRefuses && peer is { Role: NodeRole.Active }; // a node handing over reports itself stopped
        var lost = peerAge is null || peerAge > ha.FailoverTimeout || peerDown || writerGone;
        if (!lost || !node.WitnessConfigured || witnessReachable != true)
            return new StandbyStep(lost, NeedsOperator: lost && !node.WitnessConfigured, TryTakeOver: false, AlreadyGranted: false);
        var granted = lease is { } l && l.Holder == node.Name && l.Epoch == node.Epoch + 1;
        return new StandbyStep(true, NeedsOperator: false, TryTakeOver: true, AlreadyGranted: granted, WriterGone: writerGone);
    }

    /// <summary>
    /// How long a heartbeat may wait for the peer's answer: two heartbeats, but never past the moment the peer would be
    /// judged lost (plus half a heartbeat), so that a peer that stopped answering is judged on time. A short deadline
    /// cannot cause a takeover by itself: the witness grants one only once the active's lease has run out.
    /// </summary>
    public static TimeSpan HeartbeatDeadline(TimeSpan? peerAge, HaOptions ha)
    {
        var longest = 2 * ha.HeartbeatInterval;
        if (peerAge is not { } age)
            return longest;
        var untilLost = ha.FailoverTimeout - age;
        var shortest = ha.HeartbeatInterval / 2;
        return untilLost < shortest ? shortest : untilLost > longest ? longest : untilLost;
    }

    /// <summary>The witness refused a takeover: with the lease expired but naming another sync standby, only ha_takeover can choose to lose writes.</summary>
    public static bool TakeoverRefusedNeedsOperator(NodeFacts node, LeaseState? lease) =>
        lease is { Expired: true } l && l.SyncStandby != node.Name && l.Epoch == node.Epoch;

    // ---------------------------------------------------------------- a member coming back

    /// <summary>A stopped member (not by the operator, not discarded) tries to rejoin at most once a second.</summary>
    public static bool ShouldRetryJoin(NodeFacts node, bool fencing, TimeSpan? sinceLastAttempt) =>
        node.Role == NodeRole.Stopped && node.Intent == NodeIntent.Member && !fencing
        && (sinceLastAttempt is null || sinceLastAttempt > TimeSpan.FromSeconds(1));

    /// <summary>
    /// How a member comes back (G7-G10): as the active's standby, by finishing or making a takeover, as the last active,
    /// or not at all. Lease is the witness's answer read just before (null: no witness, or it did not answer).
    /// </summary>
    public static JoinPlan OnJoin(NodeFacts node, PeerHello? peer, LeaseState? lease, bool operatorAsked)
    {
        var peerName = node.PeerName;
        if (peer is { Role: NodeRole.Active })
            return peer.Epoch < node.Epoch
                ? new JoinPlan.Wait(NodeState.WaitingForPeer, $"{peer.Node} claims to be active at epoch {peer.Epoch}, older than this node's {node.Epoch}; refusing to follow it", StopDatabase: false)
                : new JoinPlan.Follow(peer);

        // Nobody is active. Only the node that was last active may write again, and only with proof.
        if (peer is not null && peer.Epoch > node.Epoch)
            return new JoinPlan.Wait(NodeState.WaitingForPeer, $"{peer.Node} ({peer.Role}) has the newer epoch {peer.Epoch} (this node: {node.Epoch}): start the cluster on it first", StopDatabase: true);
        // Also for the last active: a teardown or takeover whose witness answer was lost leaves the lease one epoch ahead in
        // this node's own name (simulator, seed 8320).
        if (node.WitnessConfigured && lease is not null && lease.Holder == node.Name && lease.Epoch == node.Epoch + 1)
            return new JoinPlan.FinishTakeover(lease.Epoch);
        if (node.LastRole != NodeRole.Active)
        {
            var wait = new JoinPlan.Wait(NodeState.WaitingForPeer, peer is null
                ? $"waiting for {peerName}: it is unreachable and this node was not the last active (its data may be behind)"
                : $"waiting for {peerName} ({peer.Role}) to become active; this node was not the last active", StopDatabase: true, KeepTrying: true);
            return node.WitnessConfigured
                ? new JoinPlan.TakeOver($"takeover at start-up: {peerName} is {(peer is null ? "unreachable" : peer.Role.ToString().ToLowerInvariant())}", wait)
                : wait;
        }
        if (node.WitnessConfigured)
        {
            if (lease is null)
                return new JoinPlan.Wait(NodeState.WaitingForWitness, "the witness is unreachable: cannot prove no other node is active", StopDatabase: false);
            if (lease.Epoch != node.Epoch || (lease.Holder != node.Name && !lease.Expired))
                return new JoinPlan.Wait(NodeState.WaitingForPeer, $"the witness granted epoch {lease.Epoch} to {lease.Holder}; this node (epoch {node.Epoch}) will rejoin as its standby", StopDatabase: true);
            return new JoinPlan.Resume(RenewLease: true);
        }
        if (peer is null)
            return new JoinPlan.Wait(NodeState.WaitingForOperator, operatorAsked
                ? $"{peerName} is unreachable and no witness is configured, so this node cannot prove it is not active; use ha_takeover to force"
                : $"{peerName} is unreachable and no witness is configured: start with ha_cluster_start or ha_takeover", StopDatabase: false);
        return new JoinPlan.Resume(RenewLease: false);
    }

    // ---------------------------------------------------------------- requests from the peer

    /// <summary>G1, first half: only a standby promotes, and only for a handover of its own epoch or newer.</summary>
    public static HandoverAnswer OnHandoverRequest(NodeFacts node, HandoverRequest request)
    {
        if (node.Role == NodeRole.Active && node.Epoch == request.Epoch + 1)
            return HandoverAnswer.AlreadyDone;
        if (node.Role != NodeRole.Standby)
            throw new WrongStateException($"{node.Name} is {node.Role}, not a standby: it cannot take over.");
        if (request.Epoch < node.Epoch)
            throw new WrongStateException($"handover from epoch {request.Epoch} is older than this node's {node.Epoch}");
        return HandoverAnswer.Proceed;
    }

    /// <summary>G1, second half: the old active transferred the lease to this node at epoch + 1, or it must take it (CAS) itself.</summary>
    public static bool LeaseTransferredToMe(NodeFacts node, LeaseState? lease) =>
        lease is not null && lease.Holder == node.Name && lease.Epoch == node.Epoch + 1;

    /// <summary>A standby leaving on purpose matters only to the active it streams from.</summary>
    public static bool OnStandbyLeaving(NodeFacts node, string leaving) => node.Role == NodeRole.Active && leaving == node.PeerName;

    /// <summary>A request to join (ha_deploy from the peer) comes to a node that is in no cluster.</summary>
    public static void OnJoinRequest(NodeFacts node, bool deployed, bool managesDatabase, bool requestUsesWitness, bool witnessConfigured, string primary)
    {
        if (!managesDatabase)
            throw new WrongStateException($"{node.Name} does not manage its own database and cannot join a cluster.");
        if (node.Role is NodeRole.Active || (node.Role == NodeRole.Standby && deployed))
            throw new WrongStateException($"{node.Name} is {node.Role} in a cluster already.");
        if (requestUsesWitness && !witnessConfigured)
            throw new WrongStateException($"{primary} uses a witness and {node.Name} has none: start {node.Name} with --witness (the same witness).");
    }

    // ---------------------------------------------------------------- operator verbs

    public static void OnDeploy(NodeFacts node, bool deployed, bool managesDatabase)
    {
        if (!managesDatabase)
            throw new WrongStateException("ha_deploy needs a node that manages its own database (--manage-db).");
        if (deployed || node.Role != NodeRole.Standalone)
            throw new WrongStateException($"{node.Name} is already part of a cluster ({node.Role}); run ha_teardown first.");
    }

    /// <summary>ha_cluster_stop: a standby leaves; an active hands over (true); a stopped node has nothing to stop.</summary>
    public static bool OnClusterStop(NodeFacts node, string reason) => node.Role switch
    {
        NodeRole.Stopped => throw new WrongStateException($"Cluster services are already stopped on {node.Name}: {reason}"),
        NodeRole.Standby => false,
        _ => true,
    };

    public static void OnClusterStart(NodeFacts node, string discardedText)
    {
        if (node.Intent == NodeIntent.Discarded)
            throw new WrongStateException($"{node.Name} was {discardedText}.");
        if (node.Role is NodeRole.Active or NodeRole.Standby)
            throw new WrongStateException($"Cluster services already run on {node.Name}: it is {node.Role}.");
    }

    /// <summary>G3: the operator may take over on the standby when the peer does not answer as active.</summary>
    public static void OnTakeover(NodeFacts node, PeerHello? peer)
    {
        if (node.Role != NodeRole.Standby)
            throw new WrongStateException($"ha_takeover runs on the standby; {node.Name} is {node.Role}.");
        if (peer is { Role: NodeRole.Active })
            throw new WrongStateException($"{peer.Node} is active and answering: use ha_cluster_stop on it for a planned handover.");
    }

    public static void OnTeardown(NodeFacts node)
    {
        if (node.Role != NodeRole.Active)
            throw new WrongStateException($"ha_teardown runs on the active node; {node.Name} is {node.Role}.");
    }

    /// <summary>A standalone node's own server died (killed, out of memory): start it again, at most once a second (simulator, seed 394).</summary>
    public static bool RestartStandaloneDatabase(NodeFacts node, bool managesDatabase, TimeSpan silentFor, TimeSpan sinceLastAttempt, HaOptions ha) =>
        node.Role == NodeRole.Standalone && managesDatabase && silentFor > ha.FailoverTimeout && sinceLastAttempt > TimeSpan.FromSeconds(1);
}
