using Ssm.Domain.Backups;

namespace Ssm.Application.Backups;

/// <summary>Sent by the backup job on each node every half minute: the active node takes the backup the schedule asks for.</summary>
[Sender(SenderRole.Internal)]
public sealed record RunDueBackup : ICommand<BackupRunDto?>;

public sealed class RunDueBackupHandler(IQuerySession session, BackupRunner runner, Ha.ClusterSupervisor cluster, IClock clock)
    : ICommandHandler<RunDueBackup, BackupRunDto?>
{
    public async ValueTask<BackupRunDto?> Handle(RunDueBackup command, CancellationToken cancellationToken)
    {
        if (!cluster.AcceptsWrites || runner.IsRunning)
            return null;
        var schedule = await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId, cancellationToken);
        if (schedule is null || !schedule.IsDue(clock.UtcNow))
            return null;
        try
        {
            return BackupRunDto.From(await runner.RunAsync(BackupTrigger.Scheduled, "scheduler", cancellationToken));
        }
        catch (ConflictException)
        {
            return null; // a manual backup started meanwhile, or the node became a standby: the next look decides again
        }
    }
}
