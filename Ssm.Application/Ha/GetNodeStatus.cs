using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

public sealed record NodeStatus(string Name, NodeRole Role, string Reason, bool Deployed);

[Sender(SenderRole.Viewer)]
public sealed record GetNodeStatus : IQuery<NodeStatus>, INoAccountData;

public sealed class GetNodeStatusHandler(ClusterSupervisor supervisor) : IQueryHandler<GetNodeStatus, NodeStatus>
{
    public ValueTask<NodeStatus> Handle(GetNodeStatus query, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new NodeStatus(supervisor.Name, supervisor.Role, supervisor.Reason, supervisor.State.Deployed));
}
