namespace Ssm.Domain.Nodes;

/// <summary>The role a node plays now (DESIGN §5). Until a cluster is deployed every node is Standalone.</summary>
public enum NodeRole
{
    Standalone,
    Active,
    Standby,
    Stopped,
}
