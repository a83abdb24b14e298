namespace Ssm.Application.Ha;

[Sender(SenderRole.Internal)]
public sealed record StopClusterServices : ICommand<VerbResult>;

public sealed class StopClusterServicesHandler(ClusterSupervisor supervisor) : ICommandHandler<StopClusterServices, VerbResult>
{
    public async ValueTask<VerbResult> Handle(StopClusterServices command, CancellationToken cancellationToken) =>
        new(await supervisor.ClusterStopAsync(cancellationToken));
}
