using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

public sealed record HaNodeView(string Name, string Identity, string Address, NodeRole Role, string Reason);

public sealed record HaStatus(
    bool Deployed,
    HaNodeView Self,
    HaNodeView? Peer,
    bool HeartbeatConnected,
    double? HeartbeatAgeMs,
    string? Vip,
    string VipProvider,
    string? VipHolder,
    string? ReplicationFrom,
    string? ReplicationTo,
    ReplicationMode Mode,
    long? LagBytes,
    double? LagSeconds,
    long Timeline,
    long Epoch,
    bool WitnessConfigured,
    bool? WitnessReachable,
    string? LeaseHolder,
    bool TakeoverNeedsOperator,
    IReadOnlyList<FailoverRecord> History)
{
    public FailoverRecord? LastFailover => History.Count > 0 ? History[0] : null;
}

[Sender(SenderRole.Viewer)]
public sealed record GetHaStatus : IQuery<HaStatus>;

public sealed class GetHaStatusHandler(ClusterSupervisor supervisor, IQuerySession session, IStorageErrors storage) : IQueryHandler<GetHaStatus, HaStatus>
{
    public async ValueTask<HaStatus> Handle(GetHaStatus query, CancellationToken cancellationToken)
    {
        var state = supervisor.State;
        var self = new HaNodeView(supervisor.Name, state.Deployed ? state.Identity.ToString().ToLowerInvariant() : "standalone",
            $"{supervisor.DatabaseNode.Endpoint.Host}", supervisor.Role, supervisor.Reason);
        if (!state.Deployed)
            return new HaStatus(false, self, null, false, null, null, supervisor.Vip.Provider, null, null, null, ReplicationMode.None,
                null, null, supervisor.Database.Timeline, supervisor.Epoch, false, null, null, false, []);

        var observed = supervisor.Peer;
        var peerHello = observed.Last;
        var age = observed.Age;
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
        return new HaStatus(true, self, peer, connected, age?.TotalMilliseconds, state.Vip, supervisor.Vip.Provider, vipHolder, from, to,
            mode, lagBytes, lagSeconds, database.Timeline, supervisor.Epoch, state.UsesWitness,
            supervisor.WitnessReachable, supervisor.Lease?.Holder, supervisor.TakeoverNeedsOperator, history);
    }
}
