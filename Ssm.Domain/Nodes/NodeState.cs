namespace Ssm.Domain.Nodes;

/// <summary>
/// What a node is doing, one value per state of docs/cluster-states.md. Its <see cref="NodeRole"/> follows from it:
/// Standalone, Active and Standby are roles of their own; every other state is the role Stopped (it neither writes nor
/// replays as a member). Sent to the peer in every heartbeat, so decisions never parse a sentence.
/// </summary>
public enum NodeState
{
    /// <summary>From a peer that predates the state in its heartbeat.</summary>
    Unknown,
    Standalone,
    Active,
    Standby,
    /// <summary>Coming back: asking the peer, rewinding or restarting its database.</summary>
    Joining,
    /// <summary>Taking a base backup of the primary during ha_deploy.</summary>
    Copying,
    /// <summary>ha_cluster_stop on the active: writes drained, database stopped, the standby about to promote.</summary>
    HandingOver,
    StoppedByOperator,
    /// <summary>Stepped down on its own: lost peer and witness, lost its database, or saw a newer epoch.</summary>
    Fenced,
    /// <summary>Not entitled to write: the peer has (or may have) newer data; it follows once the peer is active.</summary>
    WaitingForPeer,
    /// <summary>Entitled to write only with the witness's word, which it cannot get now.</summary>
    WaitingForWitness,
    /// <summary>No witness and no peer: only ha_takeover or ha_cluster_start can decide.</summary>
    WaitingForOperator,
    Discarded,
}

public static class NodeStates
{
    public static NodeRole RoleOf(NodeState state) => state switch
    {
        NodeState.Standalone => NodeRole.Standalone,
        NodeState.Active => NodeRole.Active,
        NodeState.Standby => NodeRole.Standby,
        _ => NodeRole.Stopped,
    };
}
