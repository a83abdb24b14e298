using Mediator;
using Quartz;
using Ssm.Application.Backups;

namespace Ssm.Infrastructure.Backups;

/// <summary>Every half minute on each node: the active one takes the backup the schedule asks for.</summary>
[DisallowConcurrentExecution]
public sealed class BackupJob(ISender sender) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) =>
        await sender.Send(new RunDueBackup(), cancellationToken);
}
