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

/// <summary>
/// Brings the node's cluster role up before the rest of the host starts: a rejoin has the machine to itself rather
/// than sharing two cores with the web host's start-up (decision 0015). A long one (a fresh base backup) does not
/// keep the dashboard down: after 5 s the host starts anyway and the rejoin goes on.
/// </summary>
public sealed class ClusterStartup(ClusterSupervisor supervisor, IVip vip) : Microsoft.Extensions.Hosting.IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await supervisor.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (TimeoutException)
        {
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => vip.ReleaseAsync();
}
