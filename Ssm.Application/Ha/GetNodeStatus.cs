using Mediator;
using Microsoft.Extensions.Options;
using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

public sealed record NodeStatus(string Name, NodeRole Role);

public sealed record GetNodeStatus : IQuery<NodeStatus>;

/// <summary>Until a cluster is deployed (the HA feature), every node serves alone.</summary>
public sealed class GetNodeStatusHandler(IOptions<NodeOptions> options) : IQueryHandler<GetNodeStatus, NodeStatus>
{
    public ValueTask<NodeStatus> Handle(GetNodeStatus query, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new NodeStatus(options.Value.Name, NodeRole.Standalone));
}
