namespace Ssm.Domain.Backups;

public enum BackupTrigger
{
    Manual,
    Scheduled,
}

public enum BackupResult
{
    Running,
    Succeeded,
    Failed,
    /// <summary>Succeeded, and its file was deleted later to keep the schedule's retention.</summary>
    Removed,
}

/// <summary>One backup the node wrote into its backup folder (or failed to): the Backups page lists these.</summary>
public sealed class BackupRun
{
    public Guid Id { get; set; }
    public BackupTrigger Trigger { get; set; }
    /// <summary>The node whose folder holds the file: after a failover the other node writes into its own.</summary>
    public string Node { get; set; } = "";
    public string StartedBy { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? EndedAt { get; set; }
    public string FileName { get; set; } = "";
    public long SizeBytes { get; set; }
    public long Rows { get; set; }
    public BackupResult Result { get; set; }
    public string? Error { get; set; }

    public static BackupRun Start(BackupTrigger trigger, string node, string by, string fileName, DateTimeOffset now) => new()
    {
        Id = Guid.CreateVersion7(now), Trigger = trigger, Node = node, StartedBy = by, StartedAt = now, FileName = fileName, Result = BackupResult.Running,
    };

    public void Succeed(long sizeBytes, long rows, DateTimeOffset now)
    {
        EnsureRunning();
        (Result, SizeBytes, Rows, EndedAt) = (BackupResult.Succeeded, sizeBytes, rows, now);
    }

    public void Fail(string error, DateTimeOffset now)
    {
        EnsureRunning();
        (Result, Error, EndedAt) = (BackupResult.Failed, error, now);
    }

    public void Remove()
    {
        if (Result != BackupResult.Succeeded)
            throw new DomainException($"Only a backup that succeeded has a file to remove; this one is {Result}.");
        Result = BackupResult.Removed;
    }

    private void EnsureRunning()
    {
        if (Result != BackupResult.Running)
            throw new DomainException($"The backup has ended already ({Result}).");
    }
}
