namespace Ssm.Domain.Backups;

/// <summary>
/// When the active node writes an encrypted backup into its backup folder, and how many it keeps (decision 0037).
/// The passphrase is stored encrypted with the node's data protection keys, so it follows a failover.
/// </summary>
public sealed class BackupSchedule
{
    public const string SingletonId = "backup-schedule";
    public const int MaximumIntervalHours = 31 * 24;
    public const int MaximumRetention = 100;
    public const int MinimumPassphraseLength = 12;
    public const int MaximumPassphraseLength = 200;

    public string Id { get; set; } = SingletonId;
    public bool Enabled { get; set; }
    public int IntervalHours { get; set; } = 24;
    /// <summary>How many backup files the node's folder keeps; older ones are deleted after each successful backup.</summary>
    public int Retention { get; set; } = 7;
    /// <summary>The passphrase, protected; "" when none is set. Never shown, logged or returned.</summary>
    public string PassphraseProtected { get; set; } = "";
    public DateTimeOffset? NextRunAt { get; set; }
    public string SetBy { get; set; } = "";
    public DateTimeOffset SetAt { get; set; }

    public static string? Problem(int intervalHours, int retention) =>
        intervalHours is < 1 or > MaximumIntervalHours ? $"The interval must be 1–{MaximumIntervalHours} hours."
        : retention is < 1 or > MaximumRetention ? $"Keep 1–{MaximumRetention} backups."
        : null;

    public void Change(bool enabled, int intervalHours, int retention, string? passphraseProtected, string by, DateTimeOffset now)
    {
        if (Problem(intervalHours, retention) is { } problem)
            throw new DomainException(problem);
        if (passphraseProtected is not null)
            PassphraseProtected = passphraseProtected;
        if (enabled && PassphraseProtected == "")
            throw new DomainException("A passphrase is required to schedule backups: without it nothing could be restored.");
        Enabled = enabled;
        IntervalHours = intervalHours;
        Retention = retention;
        SetBy = by;
        SetAt = now;
        // A changed schedule counts from now: the first backup one interval later (or now, by "Back up now").
        NextRunAt = enabled ? now.AddHours(intervalHours) : null;
    }

    public bool IsDue(DateTimeOffset now) => Enabled && PassphraseProtected != "" && NextRunAt is { } next && next <= now;

    /// <summary>After a scheduled run, successful or not: the next one an interval after this one started (no burst of catch-ups).</summary>
    public void Served(DateTimeOffset startedAt) => NextRunAt = startedAt.AddHours(IntervalHours);
}
