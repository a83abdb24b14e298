using Mediator;
using Quartz;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

[DisallowConcurrentExecution]
public sealed class HeartbeatJob(ISender sender) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) =>
        await sender.Send(new ClusterTick(), cancellationToken);
}

/// <summary>Brings the node's cluster role up before the web host starts serving.</summary>
public sealed class ClusterStartup(ClusterSupervisor supervisor, IVip vip) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => supervisor.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => vip.ReleaseAsync();
}
