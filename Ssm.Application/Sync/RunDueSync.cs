using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>
/// Sent by the scheduler job every few seconds on each node. Only the active node acts: it marks runs of
/// a node that stopped mid-way as interrupted and resumes them, and starts the run the schedule asks for,
/// also one that came due while no node was active (catch-up).
/// </summary>
[Sender(SenderRole.Internal)]
public sealed record RunDueSync : ICommand<SyncRunDto?>;

public sealed class RunDueSyncHandler(IQuerySession session, SyncRunner runner, Ha.ClusterSupervisor cluster, IClock clock)
    : ICommandHandler<RunDueSync, SyncRunDto?>
{
    public async ValueTask<SyncRunDto?> Handle(RunDueSync command, CancellationToken cancellationToken)
    {
        if (!cluster.AcceptsWrites)
            return null;
        var now = clock.UtcNow;
        var abandoned = await session.Query<SyncRun>().Where(r => r.Result == SyncResult.Running).ToListAsync(cancellationToken);
        var resume = abandoned.FirstOrDefault(r => !runner.IsLive(r.Id));
        var schedule = await session.LoadAsync<SyncSchedule>(SyncSchedule.SingletonId, cancellationToken);
        var due = schedule is not null && schedule.IsDue(now) ? schedule.LatestDue(now) : null;
        if (resume is null && due is null)
            return null;
        if (abandoned.Any(r => runner.IsLive(r.Id)))
            return null;
        try
        {
            var run = await runner.StartAsync(due is null ? SyncTrigger.CatchUp : SyncTrigger.Scheduled, due is null ? resume!.AccountId : null,
                "scheduler", s =>
                {
                    if (due is { } at && schedule is not null)
                    {
                        schedule.Served(at);
                        s.Store(schedule);
                    }
                }, cancellationToken);
            return SyncRunDto.From(run);
        }
        catch (ConflictException)
        {
            return null;
        }
    }
}
