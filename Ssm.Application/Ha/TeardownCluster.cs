namespace Ssm.Application.Ha;

[Sender(SenderRole.Internal)]
public sealed record TeardownCluster : ICommand<VerbResult>;

public sealed class TeardownClusterHandler(ClusterSupervisor supervisor) : ICommandHandler<TeardownCluster, VerbResult>
{
    public async ValueTask<VerbResult> Handle(TeardownCluster command, CancellationToken cancellationToken) =>
        new(await supervisor.TeardownAsync(cancellationToken));
}
