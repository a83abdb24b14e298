using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

public sealed record HaNodeView(string Name, string Identity, string Address, NodeRole Role, string Reason);

/// <summary>Heard from the peer within two seconds, as a running member; AgeMs since its last heartbeat.</summary>
public sealed record HeartbeatStatus(bool Connected, double? AgeMs)
{
    public static readonly HeartbeatStatus None = new(false, null);
}

/// <summary>The virtual address products use, how it is moved, and which node holds it now.</summary>
public sealed record VipStatus(string? Address, string Provider, string? Holder);

/// <summary>Which way the database streams (From → To), whether the active waits for the standby (Mode), and how far behind it is.</summary>
public sealed record ReplicationStatus(ReplicationMode Mode, string? From, string? To, long? LagBytes, double? LagSeconds, long Timeline);

/// <summary>The third vote, when the cluster was deployed with one.</summary>
public sealed record WitnessStatus(bool Configured, bool? Reachable, string? LeaseHolder)
{
    public static readonly WitnessStatus None = new(false, null, null);
}

public sealed record HaStatus
{
    public required bool Deployed { get; init; }
    public required HaNodeView Self { get; init; }
    public HaNodeView? Peer { get; init; }
    public HeartbeatStatus Heartbeat { get; init; } = HeartbeatStatus.None;
    public required VipStatus Vip { get; init; }
    public required ReplicationStatus Replication { get; init; }
    public WitnessStatus Witness { get; init; } = WitnessStatus.None;
    public long Epoch { get; init; }
    public bool TakeoverNeedsOperator { get; init; }
    public IReadOnlyList<FailoverRecord> History { get; init; } = [];
    /// <summary>The cluster this node was part of was torn down (by whom, when, which node was discarded), kept across restarts.</summary>
    public ClusterTeardown? TornDown { get; init; }
    /// <summary>On a node ha_teardown made standalone: what is left of the seed's last step (Host Common Name, sync, re-registrations).</summary>
    public TeardownFollowUp? FollowUp { get; init; }

    public FailoverRecord? LastFailover => History.Count > 0 ? History[0] : null;
}

[Sender(SenderRole.Viewer)]
public sealed record GetHaStatus : IQuery<HaStatus>, INoAccountData;

public sealed class GetHaStatusHandler(ClusterSupervisor supervisor, IQuerySession session, IStorageErrors storage, ISender sender)
    : IQueryHandler<GetHaStatus, HaStatus>
{
    public async ValueTask<HaStatus> Handle(GetHaStatus query, CancellationToken cancellationToken)
    {
        var state = supervisor.State;
        var self = new HaNodeView(supervisor.Name, state.Deployed ? state.Identity.ToString().ToLowerInvariant() : "standalone",
            $"{supervisor.DatabaseNode.Endpoint.Host}", supervisor.Role, supervisor.Reason);
        if (!state.Deployed)
            return new HaStatus
            {
                Deployed = false,
                Self = self,
                Vip = new VipStatus(null, supervisor.Vip.Provider, null),
                Replication = new ReplicationStatus(ReplicationMode.None, null, null, null, null, supervisor.Database.Timeline),
                Epoch = supervisor.Epoch,
                TornDown = state.TornDown,
                FollowUp = state.TornDown is null ? null : await FollowUpAsync(cancellationToken),
            };
        // The discarded node was told by the one that tore the cluster down; its own name is the discarded one.
        var tornDown = state is { Intent: NodeIntent.Discarded, DiscardedBy: { } by }
            ? new ClusterTeardown(by, state.DiscardedAt ?? DateTimeOffset.MinValue, supervisor.Name)
            : null;

        var observed = supervisor.Peer;
        var peerHello = observed.Last;
        var age = supervisor.PeerAge;
        // Heard from within two seconds; connected means it answers as a running member.
        var fresh = age is not null && age < TimeSpan.FromSeconds(2);
        var connected = fresh && peerHello?.Role is NodeRole.Active or NodeRole.Standby;
        var peerIdentity = state.Identity == NodeIdentity.Primary ? "secondary" : "primary";
        var peerRole = connected || peerHello is null ? peerHello?.Role ?? NodeRole.Stopped : peerHello.Role == NodeRole.Active && !connected ? NodeRole.Stopped : peerHello.Role;
        var peerReason = !fresh ? $"not answering{(age is { } a ? $" for {a.TotalSeconds:0.0} s" : "")}" : peerHello?.Reason ?? "";
        var peer = new HaNodeView(state.PeerName ?? "?", peerIdentity, state.PeerDatabaseHost ?? "", peerRole, peerReason);

        var database = supervisor.Database;
        string? from = null, to = null;
        long? lagBytes = null;
        double? lagSeconds = null;
        if (supervisor.Role == NodeRole.Active)
        {
            var standby = database.Standbys.FirstOrDefault(s => s.Name == state.PeerName);
            if (standby is not null)
            {
                (from, to, lagBytes, lagSeconds) = (supervisor.Name, standby.Name, standby.LagBytes, standby.LagSeconds);
            }
        }
        else if (supervisor.Role == NodeRole.Standby && database.ReceiverStatus == "streaming")
        {
            (from, to) = (state.PeerName, supervisor.Name);
        }

        var vipHolder = supervisor.Vip.Held ? supervisor.Name : peerHello is { Role: NodeRole.Active } && connected ? peerHello.Node : null;
        IReadOnlyList<FailoverRecord> history = [];
        if (supervisor.Role is NodeRole.Active or NodeRole.Standby)
        {
            try
            {
                var cluster = await session.LoadAsync<ClusterDocument>(ClusterDocument.SingletonId, cancellationToken);
                history = cluster?.History ?? [];
            }
            catch (Exception ex) when (storage.IsUnavailable(ex))
            {
                history = [];
            }
        }
        // A standby knows the mode only from the active's last heartbeat.
        var mode = supervisor.Role == NodeRole.Standby ? peerHello?.Mode ?? ReplicationMode.None : supervisor.Mode;
        return new HaStatus
        {
            Deployed = true,
            Self = self,
            Peer = peer,
            Heartbeat = new HeartbeatStatus(connected, age?.TotalMilliseconds),
            Vip = new VipStatus(state.Vip, supervisor.Vip.Provider, vipHolder),
            Replication = new ReplicationStatus(mode, from, to, lagBytes, lagSeconds, database.Timeline),
            Witness = new WitnessStatus(state.UsesWitness, supervisor.WitnessReachable, supervisor.Lease?.Holder),
            Epoch = supervisor.Epoch,
            TakeoverNeedsOperator = supervisor.TakeoverNeedsOperator,
            History = history,
            TornDown = tornDown,
        };
    }

    private async Task<TeardownFollowUp?> FollowUpAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await sender.Send(new GetTeardownFollowUp(), cancellationToken);
        }
        catch (Exception ex) when (storage.IsUnavailable(ex))
        {
            return null;
        }
    }
}
