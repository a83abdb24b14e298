namespace Ssm.Domain.Sync;

public enum SyncTrigger
{
    Manual,
    Scheduled,
    CatchUp,
}

public enum SyncResult
{
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

/// <summary>
/// One synchronization with CSC, of one account or of all: kept as the sync history, and while it runs
/// the live progress the Synchronization page shows (stage, items, percent).
/// </summary>
public sealed class SyncRun
{
    public Guid Id { get; set; }
    public SyncTrigger Trigger { get; set; }
    /// <summary>Null for a run over every account.</summary>
    public Guid? AccountId { get; set; }
    public string Scope { get; set; } = "";
    public string Node { get; set; } = "";
    public string StartedBy { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? EndedAt { get; set; }
    public DateTimeOffset HeartbeatAt { get; set; }
    public string Stage { get; set; } = "";
    public int Percent { get; set; }
    public long ItemsUp { get; set; }
    public long ItemsDown { get; set; }
    public SyncResult Result { get; set; }
    public string? Error { get; set; }

    public static SyncRun Start(SyncTrigger trigger, Guid? accountId, string scope, string node, string startedBy, DateTimeOffset now) => new()
    {
        Id = Guid.CreateVersion7(now),
        Trigger = trigger,
        AccountId = accountId,
        Scope = scope,
        Node = node,
        StartedBy = startedBy,
        StartedAt = now,
        HeartbeatAt = now,
        Stage = "Starting",
        Result = SyncResult.Running,
    };

    public void Progress(string stage, int percent, DateTimeOffset now)
    {
        Stage = stage;
        Percent = Math.Clamp(percent, 0, 100);
        HeartbeatAt = now;
    }

    public void Finish(SyncResult result, string? error, DateTimeOffset now)
    {
        if (result == SyncResult.Running)
            throw new DomainException("A finished run needs a result.");
        Result = result;
        Error = error;
        EndedAt = now;
        HeartbeatAt = now;
        Stage = result == SyncResult.Succeeded ? "Done" : Stage;
        if (result == SyncResult.Succeeded)
            Percent = 100;
    }

    /// <summary>A run whose node stopped reporting (it crashed, or lost the active role mid-run).</summary>
    public bool IsAbandoned(DateTimeOffset now, TimeSpan silence) => Result == SyncResult.Running && now - HeartbeatAt > silence;
}

/// <summary>
/// A group of product instances and usage records sent to CSC under one id: the account's rows of the upload queue
/// numbered after <see cref="FromSeq"/> up to <see cref="ToSeq"/> (decision 0041). Claimed (stored) before it is sent,
/// acknowledged after CSC answered: a run that dies between the two resends the same batch, which CSC counts once.
/// </summary>
public sealed class UploadBatch
{
    public string Id { get; set; } = "";
    public Guid AccountId { get; set; }
    public DateTimeOffset ClaimedAt { get; set; }
    public long FromSeq { get; set; }
    public long ToSeq { get; set; }
    public int Items { get; set; }
    public DateTimeOffset? AcknowledgedAt { get; set; }
    public int Accepted { get; set; }
    public int Duplicates { get; set; }

    /// <summary>Records CSC's answer; false when an earlier answer was recorded already (which stays).</summary>
    public bool Acknowledge(int accepted, int duplicates, DateTimeOffset now)
    {
        if (AcknowledgedAt is not null)
            return false;
        AcknowledgedAt = now;
        Accepted = accepted;
        Duplicates = duplicates;
        return true;
    }
}
