namespace Ssm.Application.Ha;

[Sender(SenderRole.Internal)]
public sealed record StartClusterServices : ICommand<VerbResult>;

public sealed class StartClusterServicesHandler(ClusterSupervisor supervisor) : ICommandHandler<StartClusterServices, VerbResult>
{
    public async ValueTask<VerbResult> Handle(StartClusterServices command, CancellationToken cancellationToken) =>
        new(await supervisor.ClusterStartAsync(cancellationToken));
}
