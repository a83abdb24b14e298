using Ssm.Domain.Events;
using Ssm.Domain.Nodes;

namespace Ssm.Application.Ha;

/// <summary>
/// What the cluster writes into the replicated database: the cluster document and its Event Log lines. A port of the
/// supervisor, so that the deterministic simulator can run the supervisor without Marten (see docs/cluster-simulation.md).
/// </summary>
public interface IClusterJournal
{
    Task RecordDeployAsync(ClusterDocument cluster, CancellationToken cancellationToken);
    Task RecordTakeoverAsync(FailoverRecord record, CancellationToken cancellationToken);
    Task RecordTeardownAsync(string discarded, long epoch, CancellationToken cancellationToken);
    Task RecordEventAsync(EventLogEntry entry, CancellationToken cancellationToken);
    /// <summary>Applies schema changes a new version brings, once this node writes.</summary>
    Task ApplySchemaAsync(CancellationToken cancellationToken);
}

public sealed class MartenClusterJournal(IDocumentStore documents) : IClusterJournal
{
    public async Task RecordDeployAsync(ClusterDocument cluster, CancellationToken cancellationToken)
    {
        await using var session = documents.LightweightSession();
        session.Store(cluster);
        await session.SaveChangesAsync(cancellationToken);
    }

    public async Task RecordTakeoverAsync(FailoverRecord record, CancellationToken cancellationToken)
    {
        await using var session = documents.LightweightSession();
        var cluster = await session.LoadAsync<ClusterDocument>(ClusterDocument.SingletonId, cancellationToken) ?? new ClusterDocument();
        cluster.RecordTakeover(record);
        session.Store(cluster);
        await session.SaveChangesAsync(cancellationToken);
    }

    public async Task RecordTeardownAsync(string discarded, long epoch, CancellationToken cancellationToken)
    {
        await using var session = documents.LightweightSession();
        var cluster = await session.LoadAsync<ClusterDocument>(ClusterDocument.SingletonId, cancellationToken) ?? new ClusterDocument();
        cluster.TornDown = true;
        cluster.Discarded = discarded;
        cluster.Epoch = epoch;
        session.Store(cluster);
        await session.SaveChangesAsync(cancellationToken);
    }

    public async Task RecordEventAsync(EventLogEntry entry, CancellationToken cancellationToken)
    {
        await using var session = documents.LightweightSession();
        session.Store(entry);
        await session.SaveChangesAsync(cancellationToken);
    }

    public Task ApplySchemaAsync(CancellationToken cancellationToken) =>
        Common.SchemaUpgrade.ApplyAsync(documents, DateTimeOffset.UtcNow, cancellationToken);
}
