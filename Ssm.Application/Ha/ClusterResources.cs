using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

/// <summary>How to reach another node's PostgreSQL for replication, rewind and base backup.</summary>
public sealed record DatabaseEndpoint(string Host, int Port);

public sealed record StandbyInfo(string Name, string State, string SyncState, long LagBytes, double LagSeconds);

/// <summary>What this node's PostgreSQL is doing now.</summary>
public sealed record DatabaseState(
    bool Running,
    bool InRecovery,
    long Timeline,
    string? Lsn,
    string? ReceiverStatus,
    string? SyncStandbyNames,
    IReadOnlyList<StandbyInfo> Standbys)
{
    public static readonly DatabaseState Down = new(false, false, 0, null, null, null, []);
}

/// <summary>This node's own PostgreSQL, controlled as Pacemaker's PostgreSQL agent does.</summary>
public interface IDatabaseNode
{
    bool IsManaged { get; }
    DatabaseEndpoint Endpoint { get; }
    bool IsInitialized { get; }
    Task InitializeAsync(CancellationToken cancellationToken);
    Task StartAsync(CancellationToken cancellationToken);
    Task StopAsync(CancellationToken cancellationToken);
    /// <summary>Stops the server at once (immediate mode): a fence, not a shutdown; rewind repairs it later.</summary>
    Task KillAsync(CancellationToken cancellationToken);
    Task<DatabaseState> ReadStateAsync(CancellationToken cancellationToken);
    /// <summary>
    /// While on, a process apart from the node kills this server if the node gives no sign of life for the fence time
    /// (frozen while active: SIGSTOP, a debugger, a paused cgroup), before its lease can run out (decision 0040).
    /// </summary>
    void GuardWhileActive(bool on);
    /// <summary>
    /// The server is stopped by a signal (SIGSTOP, a debugger's stop) or gone (killed): it answers nobody until someone
    /// continues or restarts it, and the node does neither while active.
    /// </summary>
    bool IsStoppedOrGone { get; }
    /// <summary>Promotes a standby and returns once it accepts writes.</summary>
    Task<TimeSpan> PromoteAsync(CancellationToken cancellationToken);
    /// <summary>Rewinds (or re-clones) this stopped node from the active's database and starts it as its standby.</summary>
    Task RejoinAsync(DatabaseEndpoint source, string applicationName, CancellationToken cancellationToken);
    /// <summary>Replaces this node's data with a base backup of the source and starts it as its standby.</summary>
    Task CloneAsync(DatabaseEndpoint source, string applicationName, CancellationToken cancellationToken);
    /// <summary>
    /// Makes commits wait for the named standby (null: for none). True once the server counts it as synchronous and it
    /// has replayed everything committed before, acknowledged without it included: only then does it hold every
    /// acknowledged write. False if that was not seen within a second (commits wait for it all the same).
    /// </summary>
    Task<bool> SetSynchronousStandbyAsync(string? standbyName, CancellationToken cancellationToken);
    /// <summary>Creates, if missing, the replication slot that keeps the WAL the named standby has yet to receive.</summary>
    Task EnsureStandbySlotAsync(string standbyName, CancellationToken cancellationToken);
    /// <summary>Drops the slots no standby streams from (teardown: the discarded node must not pin WAL forever).</summary>
    Task DropIdleSlotsAsync(CancellationToken cancellationToken);
    Task EnsureReplicationUserAsync(CancellationToken cancellationToken);
    /// <summary>Lets the peer's database host (and no one else) replicate and rewind from this server, by certificate.</summary>
    Task AllowPeerAsync(string? peerHost, string? peerName, CancellationToken cancellationToken);
    /// <summary>Readies the process for talking to the peer's database (started in the background, not awaited).</summary>
    void WarmUp(DatabaseEndpoint peer);
    /// <summary>A checkpoint now, so that a shutdown soon after has few dirty buffers left to write.</summary>
    Task CheckpointAsync(CancellationToken cancellationToken);
    /// <summary>The WAL position of the last checkpoint of a stopped server (its shutdown checkpoint).</summary>
    Task<string?> LastCheckpointLsnAsync(CancellationToken cancellationToken);
    Task<bool> WaitReplayedAsync(string lsn, TimeSpan timeout, CancellationToken cancellationToken);
}

public interface IVip
{
    string Provider { get; }
    string? Address { get; }
    bool Held { get; }
    Task AcquireAsync(string address, CancellationToken cancellationToken);
    Task ReleaseAsync();
    /// <summary>
    /// True when the next holder can take the address while this node still holds it: its gratuitous ARP moves the
    /// clients (`ip`). A planned handover then keeps the address until the standby has it, so clients meet this node's
    /// quick "not active" answer instead of an address nobody holds. The `loopback` provider lets go first (decision 0045).
    /// </summary>
    bool CanBeTakenWhileHeld => false;
    /// <summary>
    /// A node that is not active and does not hold the address removes it where an earlier process of its own may
    /// have left it (a kill -9 releases nothing). Only the `ip` provider has such a place: its host's interface.
    /// </summary>
    Task DropLeftoverAsync(string address) => Task.CompletedTask;
}

/// <summary>The witness's lease; SyncStandby is the standby the holder has confirmed synchronous (the only one that may take over).</summary>
public sealed record LeaseState(long Epoch, string Holder, bool Expired, double ExpiresInMs, string? SyncStandby = null);

/// <summary>The third vote: a lease row taken and renewed by compare-and-set on the epoch, on the witness's clock.</summary>
public interface IWitness
{
    bool Configured { get; }
    Task InitializeAsync(string cluster, string holder, long epoch, TimeSpan ttl, CancellationToken cancellationToken);
    Task<LeaseState?> ReadAsync(string cluster, CancellationToken cancellationToken);
    /// <summary>Takes the lease at newEpoch if it is at expectedEpoch and expired or already ours; a new epoch has no sync standby yet.</summary>
    Task<bool> TryAcquireAsync(string cluster, string node, long expectedEpoch, long newEpoch, TimeSpan ttl, CancellationToken cancellationToken);
    /// <summary>
    /// A crash takeover: the lease at expectedEpoch + 1, only if its holder at expectedEpoch had recorded this node as its
    /// synchronous standby, and the lease expired or the holder is gone (its host refused both its ports), in one
    /// compare-and-set (so no degrade can slip between the check and the take). Decision 0031.
    /// </summary>
    Task<bool> TryTakeOverAsync(string cluster, string node, long expectedEpoch, bool holderGone, TimeSpan ttl, CancellationToken cancellationToken);
    /// <summary>
    /// The holder records which standby its commits wait for (null: none). Set only once the database waits for it, and
    /// cleared before the database stops waiting: the record never names a standby that may lack an acknowledged write.
    /// </summary>
    Task<bool> SetSyncStandbyAsync(string cluster, string holder, long epoch, string? standby, CancellationToken cancellationToken);
    Task<bool> RenewAsync(string cluster, string node, long epoch, TimeSpan ttl, CancellationToken cancellationToken);
    Task<bool> TransferAsync(string cluster, string from, string to, long epoch, TimeSpan ttl, CancellationToken cancellationToken);
    Task ReportSeenAsync(string cluster, string node, CancellationToken cancellationToken);
    /// <summary>How long ago the witness last heard from the node, or null if never.</summary>
    Task<TimeSpan?> LastSeenAsync(string cluster, string node, CancellationToken cancellationToken);
    void Configure(string? connectionString);
}

/// <summary>
/// What a node tells its peer on every heartbeat. DatabaseOk is false when its own PostgreSQL stopped
/// answering; Mode is the active's replication mode (only a standby last told "sync" has every write).
/// </summary>
public sealed record PeerHello(string Node, NodeRole Role, long Epoch, string DatabaseHost, int DatabasePort, string? Lsn, string Reason,
    bool DatabaseOk = true, ReplicationMode Mode = ReplicationMode.None, NodeState State = NodeState.Unknown);

/// <summary>Calls the other node's peer API with the cluster key.</summary>
public interface IPeerLink
{
    Task<PeerHello?> HeartbeatAsync(Uri peer, PeerHello self, CancellationToken cancellationToken);
    Task<TResponse> CallAsync<TResponse>(Uri peer, string path, object body, TimeSpan timeout, CancellationToken cancellationToken);
    /// <summary>
    /// True only when the peer's host answers and refuses a connection on its PostgreSQL port: positive evidence that no
    /// database server, so no writer, runs there (decision 0042). Silence (a cut, a frozen host) is no evidence.
    /// </summary>
    Task<bool> DatabaseRefusesAsync(DatabaseEndpoint database, CancellationToken cancellationToken);
    /// <summary>
    /// Opens a connection to the peer in the background, so that the first call of a new process (a rejoin after a
    /// crash) does not wait for its TLS handshake and the code behind it.
    /// </summary>
    void WarmUp(Uri peer)
    {
    }
}

/// <summary>
/// The end of a cluster, as the node that ran ha_teardown keeps it (and as the discarded node is told it):
/// which node ran it, when, and which node was discarded. Kept until the next ha_deploy starts a new cluster.
/// </summary>
/// <param name="Vip">The cluster's VIP, which the Host Common Name probably still names (null in state files written before it was kept).</param>
public sealed record ClusterTeardown(string By, DateTimeOffset At, string Discarded, string? Vip = null)
{
    public string Text => $"cluster torn down by ha_teardown on {By} at {At:u}; {Discarded} discarded";
}

/// <summary>The node's own record of its cluster membership, kept in its data folder (not replicated).</summary>
public sealed class LocalNodeState
{
    public bool Deployed { get; set; }
    public NodeIdentity Identity { get; set; }
    public NodeIntent Intent { get; set; } = NodeIntent.Member;
    public long Epoch { get; set; }
    public NodeRole LastRole { get; set; } = NodeRole.Standalone;
    public string ClusterName { get; set; } = "ssm";
    public string? PeerName { get; set; }
    public string? PeerUrl { get; set; }
    public string? PeerDatabaseHost { get; set; }
    public int PeerDatabasePort { get; set; }
    public string? Vip { get; set; }
    /// <summary>The cluster was deployed with a witness; its connection is each node's own setting (Cluster:Witness).</summary>
    public bool UsesWitness { get; set; }
    /// <summary>Read from state files written before decision 0018, which kept the witness's connection (and password) here; never written.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Witness
    {
        get => null;
        set => UsesWitness |= !string.IsNullOrWhiteSpace(value);
    }
    public string? DiscardedBy { get; set; }
    public DateTimeOffset? DiscardedAt { get; set; }
    /// <summary>On a standalone node: the cluster it was the active of until ha_teardown (null if it never was in one).</summary>
    public ClusterTeardown? TornDown { get; set; }
}

public interface ILocalStateStore
{
    LocalNodeState Load();
    void Save(LocalNodeState state);
}
