using FluentValidation;
using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Events;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

public sealed record SyncScheduleDto(SyncFrequency Frequency, TimeOnly At, DayOfWeek DayOfWeek, int DayOfMonth, int IntervalMinutes,
    DateTimeOffset? NextRun, DateTimeOffset? LastDueRun, string SetBy, DateTimeOffset SetAt)
{
    public static SyncScheduleDto From(SyncSchedule s, DateTimeOffset now) =>
        new(s.Frequency, s.At, s.DayOfWeek, s.DayOfMonth, s.IntervalMinutes, s.NextDue(now), s.LastDueRun, s.SetBy, s.SetAt);
}

[Sender(SenderRole.Viewer)]
public sealed record GetSyncSchedule : IQuery<SyncScheduleDto>;

public sealed class GetSyncScheduleHandler(IQuerySession session, IClock clock) : IQueryHandler<GetSyncSchedule, SyncScheduleDto>
{
    public async ValueTask<SyncScheduleDto> Handle(GetSyncSchedule query, CancellationToken cancellationToken) =>
        SyncScheduleDto.From(await session.LoadAsync<SyncSchedule>(SyncSchedule.SingletonId, cancellationToken) ?? new SyncSchedule(), clock.UtcNow);
}

/// <summary>Sets when the active node synchronizes every account (times in UTC).</summary>
[Sender(SenderRole.Admin)]
public sealed record SetSyncSchedule(SyncFrequency Frequency, TimeOnly At, DayOfWeek DayOfWeek = DayOfWeek.Sunday, int DayOfMonth = 1,
    int IntervalMinutes = 60) : ICommand<SyncScheduleDto>, IAudited
{
    public EventCategory Category => EventCategory.Sync;
    public string Subject => "schedule";
}

public sealed class SetSyncScheduleValidator : AbstractValidator<SetSyncSchedule>
{
    public SetSyncScheduleValidator()
    {
        RuleFor(x => x.Frequency).IsInEnum();
        RuleFor(x => x.DayOfWeek).IsInEnum();
        RuleFor(x => x).Must(x => SyncSchedule.Problem(x.Frequency, x.DayOfMonth, x.IntervalMinutes) is null)
            .WithMessage(x => SyncSchedule.Problem(x.Frequency, x.DayOfMonth, x.IntervalMinutes)!).OverridePropertyName("Schedule");
    }
}

public sealed class SetSyncScheduleHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<SetSyncSchedule, SyncScheduleDto>
{
    public async ValueTask<SyncScheduleDto> Handle(SetSyncSchedule command, CancellationToken cancellationToken)
    {
        var schedule = await session.LoadAsync<SyncSchedule>(SyncSchedule.SingletonId, cancellationToken) ?? new SyncSchedule();
        schedule.Change(command.Frequency, command.At, command.DayOfWeek, command.DayOfMonth, command.IntervalMinutes, user.Name, clock.UtcNow);
        session.Store(schedule);
        var dto = SyncScheduleDto.From(schedule, clock.UtcNow);
        session.RecordSuccess(command, user, clock, $"{command.Frequency}; next run {dto.NextRun:u}");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Sync);
        return dto;
    }
}

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
