using Ssm.Domain;
using Ssm.Domain.Sync;

namespace Ssm.Tests.Domain;

public sealed class SyncScheduleTests
{
    private static readonly DateTimeOffset Wednesday1030 = new(2026, 11, 25, 10, 30, 0, TimeSpan.Zero);

    private static SyncSchedule Make(SyncFrequency frequency, TimeOnly at, DateTimeOffset setAt, DayOfWeek day = DayOfWeek.Sunday,
        int dayOfMonth = 1, int interval = 60)
    {
        var schedule = new SyncSchedule();
        schedule.Change(frequency, at, day, dayOfMonth, interval, "admin", setAt);
        return schedule;
    }

    [Fact]
    public void A_daily_run_is_due_once_its_time_of_day_has_passed_and_not_again_once_served()
    {
        var schedule = Make(SyncFrequency.Daily, new TimeOnly(11, 0), Wednesday1030);
        schedule.IsDue(Wednesday1030.AddMinutes(29)).ShouldBeFalse();
        var at = Wednesday1030.AddMinutes(31);
        schedule.IsDue(at).ShouldBeTrue();
        schedule.LatestDue(at).ShouldBe(new DateTimeOffset(2026, 11, 25, 11, 0, 0, TimeSpan.Zero));
        schedule.Served(schedule.LatestDue(at)!.Value);
        schedule.IsDue(at.AddHours(5)).ShouldBeFalse();
        schedule.NextDue(at).ShouldBe(new DateTimeOffset(2026, 11, 26, 11, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void A_new_schedule_does_not_catch_up_moments_before_it_existed()
    {
        var schedule = Make(SyncFrequency.Daily, new TimeOnly(2, 0), Wednesday1030);
        schedule.IsDue(Wednesday1030.AddMinutes(1)).ShouldBeFalse();
    }

    [Fact]
    public void A_moment_missed_while_no_node_was_active_is_due_later_exactly_once()
    {
        var schedule = Make(SyncFrequency.Daily, new TimeOnly(11, 0), Wednesday1030);
        // Nobody served Wednesday 11:00 or Thursday 11:00; on Thursday at 15:00 one catch-up run is due.
        var thursday = new DateTimeOffset(2026, 11, 26, 15, 0, 0, TimeSpan.Zero);
        schedule.IsDue(thursday).ShouldBeTrue();
        schedule.Served(schedule.LatestDue(thursday)!.Value);
        schedule.IsDue(thursday.AddMinutes(1)).ShouldBeFalse();
    }

    [Fact]
    public void Weekly_and_monthly_runs_fall_on_their_day()
    {
        var weekly = Make(SyncFrequency.Weekly, new TimeOnly(3, 0), Wednesday1030, DayOfWeek.Monday);
        weekly.NextDue(Wednesday1030).ShouldBe(new DateTimeOffset(2026, 11, 30, 3, 0, 0, TimeSpan.Zero));
        var monthly = Make(SyncFrequency.Monthly, new TimeOnly(3, 0), Wednesday1030, dayOfMonth: 28);
        monthly.NextDue(Wednesday1030).ShouldBe(new DateTimeOffset(2026, 11, 28, 3, 0, 0, TimeSpan.Zero));
        monthly.NextDue(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero)).ShouldBe(new DateTimeOffset(2026, 12, 28, 3, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void An_interval_counts_from_when_it_was_set()
    {
        var schedule = Make(SyncFrequency.Interval, default, Wednesday1030, interval: 15);
        schedule.IsDue(Wednesday1030.AddMinutes(14)).ShouldBeFalse();
        schedule.IsDue(Wednesday1030.AddMinutes(15)).ShouldBeTrue();
        schedule.NextDue(Wednesday1030.AddMinutes(16)).ShouldBe(Wednesday1030.AddMinutes(30));
    }

    [Fact]
    public void Off_is_never_due()
    {
        var schedule = Make(SyncFrequency.Off, default, Wednesday1030);
        schedule.IsDue(Wednesday1030.AddDays(40)).ShouldBeFalse();
        schedule.NextDue(Wednesday1030).ShouldBeNull();
    }

    [Theory]
    [InlineData(SyncFrequency.Monthly, 29, 60)]
    [InlineData(SyncFrequency.Monthly, 0, 60)]
    [InlineData(SyncFrequency.Interval, 1, 4)]
    [InlineData(SyncFrequency.Interval, 1, 100_000)]
    public void Impossible_schedules_are_refused_and_change_nothing(SyncFrequency frequency, int dayOfMonth, int interval)
    {
        var schedule = Make(SyncFrequency.Daily, new TimeOnly(2, 0), Wednesday1030);
        Should.Throw<DomainException>(() => schedule.Change(frequency, default, DayOfWeek.Monday, dayOfMonth, interval, "x", Wednesday1030));
        schedule.Frequency.ShouldBe(SyncFrequency.Daily);
        schedule.SetBy.ShouldBe("admin");
    }
}
