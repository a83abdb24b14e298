namespace Ssm.Domain.Nodes;

/// <summary>Set at deploy, for life: the node that ran ha_deploy is the primary.</summary>
public enum NodeIdentity
{
    Primary,
    Secondary,
}

/// <summary>What the operator last asked of this node's cluster services (kept in the node's own files).</summary>
public enum NodeIntent
{
    Member,
    Stopped,
    Discarded,
}

public enum ReplicationMode
{
    None,
    Sync,
    Async,
}

/// <summary>One takeover of the active role: planned handover, crash failover or operator takeover.</summary>
public sealed record FailoverRecord(DateTimeOffset At, string Cause, string From, string To, long Epoch, double DurationMs);

/// <summary>
/// The cluster as the replicated database knows it. Stored by the active node; a standby reads it
/// through replication.
/// </summary>
public sealed class ClusterDocument
{
    public const string SingletonId = "cluster";
    public const int HistoryLimit = 50;

    public string Id { get; set; } = SingletonId;
    public long Epoch { get; set; }
    public string Active { get; set; } = "";
    public string PrimaryNode { get; set; } = "";
    public string SecondaryNode { get; set; } = "";
    public string Vip { get; set; } = "";
    public bool TornDown { get; set; }
    public string? Discarded { get; set; }
    public List<FailoverRecord> History { get; set; } = [];

    public void RecordTakeover(FailoverRecord record)
    {
        if (record.Epoch < Epoch)
            throw new DomainException($"Epoch {record.Epoch} is older than the cluster's epoch {Epoch}.");
        Epoch = record.Epoch;
        Active = record.To;
        History.Insert(0, record);
        if (History.Count > HistoryLimit)
            History.RemoveRange(HistoryLimit, History.Count - HistoryLimit);
    }
}

/// <summary>Rules that keep one writer, checked where a node decides.</summary>
public static class EpochRules
{
    /// <summary>A node that sees a higher epoch than its own is no longer entitled to write.</summary>
    public static bool MustStepDown(NodeRole role, long ownEpoch, long seenEpoch) =>
        role == NodeRole.Active && seenEpoch > ownEpoch;
}
