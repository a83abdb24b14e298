using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

public sealed record SyncScheduleDto(SyncFrequency Frequency, TimeOnly At, DayOfWeek DayOfWeek, int DayOfMonth, int IntervalMinutes,
    DateTimeOffset? NextRun, DateTimeOffset? LastDueRun, string SetBy, DateTimeOffset SetAt)
{
    public static SyncScheduleDto From(SyncSchedule s, DateTimeOffset now) =>
        new(s.Frequency, s.At, s.DayOfWeek, s.DayOfMonth, s.IntervalMinutes, s.NextDue(now), s.LastDueRun, s.SetBy, s.SetAt);
}

[Sender(SenderRole.Viewer)]
public sealed record GetSyncSchedule : IQuery<SyncScheduleDto>, INoAccountData;

public sealed class GetSyncScheduleHandler(IQuerySession session, IClock clock) : IQueryHandler<GetSyncSchedule, SyncScheduleDto>
{
    public async ValueTask<SyncScheduleDto> Handle(GetSyncSchedule query, CancellationToken cancellationToken) =>
        SyncScheduleDto.From(await session.LoadAsync<SyncSchedule>(SyncSchedule.SingletonId, cancellationToken) ?? new SyncSchedule(), clock.UtcNow);
}
