using Mediator;
using Quartz;
using Ssm.Application.Sync;

namespace Ssm.Infrastructure.Csc;

/// <summary>Every few seconds on each node: the active one starts a due or interrupted synchronization.</summary>
[DisallowConcurrentExecution]
public sealed class SyncSchedulerJob(ISender sender) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) =>
        await sender.Send(new RunDueSync(), cancellationToken);
}
