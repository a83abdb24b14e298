namespace Ssm.Domain.Sync;

public enum SyncFrequency
{
    Off,
    Daily,
    Weekly,
    Monthly,
    Interval,
}

/// <summary>
/// When the active node synchronizes every account with CSC, as SSM's Synchronization page sets it.
/// <see cref="LastDueRun"/> is the scheduled moment last served: a node that becomes active finds a
/// later due moment unserved and catches up.
/// </summary>
public sealed class SyncSchedule
{
    public const string SingletonId = "sync-schedule";
    public const int MinimumIntervalMinutes = 5;
    public const int MaximumIntervalMinutes = 7 * 24 * 60;

    public string Id { get; set; } = SingletonId;
    public SyncFrequency Frequency { get; set; } = SyncFrequency.Daily;
    /// <summary>Time of day in UTC for daily, weekly and monthly runs.</summary>
    public TimeOnly At { get; set; } = new(2, 0);
    public DayOfWeek DayOfWeek { get; set; } = DayOfWeek.Sunday;
    /// <summary>1–28, so that every month has the day.</summary>
    public int DayOfMonth { get; set; } = 1;
    public int IntervalMinutes { get; set; } = 60;
    public DateTimeOffset SetAt { get; set; }
    public string SetBy { get; set; } = "";
    public DateTimeOffset? LastDueRun { get; set; }

    public static string? Problem(SyncFrequency frequency, int dayOfMonth, int intervalMinutes) => frequency switch
    {
        SyncFrequency.Monthly when dayOfMonth is < 1 or > 28 => "Day of month must be 1–28 (every month has it).",
        SyncFrequency.Interval when intervalMinutes is < MinimumIntervalMinutes or > MaximumIntervalMinutes =>
            $"Interval must be {MinimumIntervalMinutes}–{MaximumIntervalMinutes} minutes.",
        _ => null,
    };

    public void Change(SyncFrequency frequency, TimeOnly at, DayOfWeek dayOfWeek, int dayOfMonth, int intervalMinutes, string by, DateTimeOffset now)
    {
        if (Problem(frequency, dayOfMonth, intervalMinutes) is { } problem)
            throw new DomainException(problem);
        Frequency = frequency;
        At = at;
        DayOfWeek = dayOfWeek;
        DayOfMonth = dayOfMonth;
        IntervalMinutes = intervalMinutes;
        SetBy = by;
        SetAt = now;
        // A new schedule starts counting now: no catch-up for moments before it existed.
        LastDueRun = LatestDue(now);
    }

    /// <summary>The latest scheduled moment at or before now (null when off).</summary>
    public DateTimeOffset? LatestDue(DateTimeOffset now)
    {
        now = now.ToUniversalTime();
        var today = new DateTimeOffset(DateOnly.FromDateTime(now.UtcDateTime).ToDateTime(At), TimeSpan.Zero);
        switch (Frequency)
        {
            case SyncFrequency.Daily:
                return today <= now ? today : today.AddDays(-1);
            case SyncFrequency.Weekly:
                var back = ((int)now.DayOfWeek - (int)DayOfWeek + 7) % 7;
                var candidate = today.AddDays(-back);
                return candidate <= now ? candidate : candidate.AddDays(-7);
            case SyncFrequency.Monthly:
                var thisMonth = new DateTimeOffset(now.Year, now.Month, DayOfMonth, At.Hour, At.Minute, 0, TimeSpan.Zero);
                return thisMonth <= now ? thisMonth : thisMonth.AddMonths(-1);
            case SyncFrequency.Interval:
                var anchor = SetAt.ToUniversalTime();
                if (now < anchor)
                    return null;
                var periods = (long)((now - anchor).TotalMinutes / IntervalMinutes);
                return anchor.AddMinutes(periods * IntervalMinutes);
            default:
                return null;
        }
    }

    /// <summary>The next scheduled moment after now (null when off).</summary>
    public DateTimeOffset? NextDue(DateTimeOffset now) => Frequency switch
    {
        SyncFrequency.Off => null,
        SyncFrequency.Daily => LatestDue(now)!.Value.AddDays(1),
        SyncFrequency.Weekly => LatestDue(now)!.Value.AddDays(7),
        SyncFrequency.Monthly => LatestDue(now)!.Value.AddMonths(1),
        _ => (LatestDue(now) ?? SetAt).AddMinutes(IntervalMinutes),
    };

    /// <summary>A scheduled moment has passed that no run served yet (also one missed while no node was active).</summary>
    public bool IsDue(DateTimeOffset now) => LatestDue(now) is { } due && (LastDueRun is null || due > LastDueRun);

    public void Served(DateTimeOffset due) => LastDueRun = due;
}
