using Marten;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>
/// Claiming unsent product instances and usage records into batches, and reading a batch back, for
/// online uploads and offline request files alike (decision 0008).
/// </summary>
public static class UploadBatches
{
    /// <summary>An unacknowledged batch of an earlier run, or a new one claimed now (null when nothing is left).</summary>
    public static async Task<UploadBatch?> NextAsync(IDocumentStore documents, Guid accountId, int size, DateTimeOffset now,
        ISet<string>? skip = null)
    {
        await using var session = documents.LightweightSession();
        var open = (await session.Query<UploadBatch>().Where(b => b.AccountId == accountId && b.AcknowledgedAt == null)
            .OrderBy(b => b.ClaimedAt).ToListAsync()).FirstOrDefault(b => skip is null || !skip.Contains(b.Id));
        if (open is not null)
            return open;
        var batch = new UploadBatch { Id = $"b-{Guid.CreateVersion7(now):N}", AccountId = accountId, ClaimedAt = now };
        // The claim marks up to `size` unsent items with the batch id and commits with the batch document.
        Claim(session, "productinstance", accountId, batch.Id, size / 2);
        Claim(session, "usagerecord", accountId, batch.Id, size - size / 2);
        session.Store(batch);
        await session.SaveChangesAsync();
        batch.Items = await session.Query<ProductInstance>().CountAsync(p => p.UploadBatch == batch.Id)
                      + await session.Query<UsageRecord>().CountAsync(u => u.UploadBatch == batch.Id);
        if (batch.Items == 0)
            session.Delete(batch);
        else
            session.Store(batch);
        await session.SaveChangesAsync();
        return batch.Items == 0 ? null : batch;
    }

    private static void Claim(IDocumentSession session, string table, Guid accountId, string batchId, int limit) =>
        session.QueueSqlCommand($"""
            update ssm.mt_doc_{table} set data = jsonb_set(data, '{"{UploadBatch}"}', to_jsonb(?::text))
            where id in (select id from ssm.mt_doc_{table}
                         where data ->> 'AccountId' = ? and data ->> 'UploadBatch' is null
                         order by id limit {limit} for update skip locked)
            """, batchId, accountId.ToString());

    public static async IAsyncEnumerable<UploadItem> ItemsOf(IDocumentStore documents, string batchId)
    {
        await using var query = documents.QuerySession();
        await foreach (var p in query.Query<ProductInstance>().Where(p => p.UploadBatch == batchId).ToAsyncEnumerable())
            yield return new UploadItem("instance", p.Id, 0, new Dictionary<string, object?>
            {
                ["pid"] = p.Pid, ["serial"] = p.SerialNumber, ["name"] = p.Name, ["registeredAt"] = p.RegisteredAt,
            });
        await foreach (var u in query.Query<UsageRecord>().Where(u => u.UploadBatch == batchId).ToAsyncEnumerable())
            yield return new UploadItem("usage", u.Id, 0, new Dictionary<string, object?>
            {
                ["instanceId"] = u.InstanceId, ["reportId"] = u.ReportId, ["tag"] = u.Tag, ["count"] = u.Count, ["from"] = u.From, ["to"] = u.To,
            });
    }

    /// <summary>Records CSC's answer for a batch; a batch acknowledged before stays as it was.</summary>
    public static async Task AcknowledgeAsync(IDocumentStore documents, string batchId, int accepted, int duplicates, DateTimeOffset now)
    {
        await using var session = documents.LightweightSession();
        var batch = await session.LoadAsync<UploadBatch>(batchId);
        if (batch is null || batch.AcknowledgedAt is not null)
            return;
        batch.AcknowledgedAt = now;
        batch.Accepted = accepted;
        batch.Duplicates = duplicates;
        session.Store(batch);
        await session.SaveChangesAsync();
    }
}
