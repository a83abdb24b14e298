namespace Ssm.Domain.Nodes;

/// <summary>The role a node plays now (docs/cluster.md, Roles and rules). Until a cluster is deployed every node is Standalone.</summary>
public enum NodeRole
{
    Standalone,
    Active,
    Standby,
    Stopped,
}
