using Ssm.Domain.Events;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

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
