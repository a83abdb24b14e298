namespace Ssm.Application.Ha;

/// <summary>One heartbeat of this node: call the peer, renew or watch the witness lease, act on what it sees.</summary>
[Sender(SenderRole.Internal)]
public sealed record ClusterTick : ICommand;

public sealed class ClusterTickHandler(ClusterSupervisor supervisor) : ICommandHandler<ClusterTick>
{
    public async ValueTask<Unit> Handle(ClusterTick command, CancellationToken cancellationToken)
    {
        await supervisor.TickAsync(cancellationToken);
        return Unit.Value;
    }
}
