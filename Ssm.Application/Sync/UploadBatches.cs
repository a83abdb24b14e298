using Ssm.Domain.Products;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>
/// Claiming unsent product instances and usage records into batches, and reading a batch back, for
/// online uploads and offline request files alike (decision 0008).
/// </summary>
public static class UploadBatches
{
    /// <summary>A batch to send, and its NDJSON lines when they came with the claim (null: read them by batch id).</summary>
    public sealed record Claimed(UploadBatch Batch, IReadOnlyList<string>? Lines);

    private const string InstanceLine = """
        jsonb_build_object('kind', 'instance', 'id', id, 'pid', data -> 'Pid', 'serial', data -> 'SerialNumber',
                           'name', data -> 'Name', 'registeredAt', data -> 'RegisteredAt', 'seq', 0)::text
        """;

    private const string UsageLine = """
        jsonb_build_object('kind', 'usage', 'id', id, 'instanceId', data -> 'InstanceId', 'reportId', data -> 'ReportId',
                           'tag', data -> 'Tag', 'count', data -> 'Count', 'from', data -> 'From', 'to', data -> 'To', 'seq', 0)::text
        """;

    /// <summary>An unacknowledged batch of an earlier run, or a new one claimed now (null when nothing is left).</summary>
    public static async Task<Claimed?> NextAsync(IDocumentStore documents, Guid accountId, int size, DateTimeOffset now,
        ISet<string>? skip = null)
    {
        await using var session = documents.LightweightSession();
        var open = (await session.Query<UploadBatch>().Where(b => b.AccountId == accountId && b.AcknowledgedAt == null)
            .OrderBy(b => b.ClaimedAt).ToListAsync()).FirstOrDefault(b => skip is null || !skip.Contains(b.Id));
        if (open is not null)
            return new Claimed(open, null);
        // The batch document first: if the node dies right after the claim, the batch is found open and resent
        // by its id. Then one statement claims up to `size` unsent items, instances first, and hands back their
        // lines; its predicates match the partial indexes of unsent items (MartenSetup).
        var batch = new UploadBatch { Id = $"b-{Guid.CreateVersion7(now):N}", AccountId = accountId, ClaimedAt = now };
        session.Store(batch);
        await session.SaveChangesAsync();
        var lines = await session.AdvancedSql.QueryAsync<string>($"""
            with instances as (
              update ssm.mt_doc_productinstance set data = jsonb_set(data, '{"{UploadBatch}"}', to_jsonb(?::text))
              where id in (select id from ssm.mt_doc_productinstance
                           where CAST(data ->> 'AccountId' as uuid) = ?::uuid and data ->> 'UploadBatch' is null
                           limit {size} for update skip locked)
              returning {InstanceLine} as line),
            usage as (
              update ssm.mt_doc_usagerecord set data = jsonb_set(data, '{"{UploadBatch}"}', to_jsonb(?::text))
              where id in (select id from ssm.mt_doc_usagerecord
                           where CAST(data ->> 'AccountId' as uuid) = ?::uuid and data ->> 'UploadBatch' is null
                           limit greatest(0, {size} - (select count(*) from instances)) for update skip locked)
              returning {UsageLine} as line)
            select line from instances union all select line from usage
            """, CancellationToken.None, batch.Id, accountId.ToString(), batch.Id, accountId.ToString());
        batch.Items = lines.Count;
        if (batch.Items == 0)
            session.Delete(batch);
        else
            session.Store(batch);
        await session.SaveChangesAsync();
        return batch.Items == 0 ? null : new Claimed(batch, lines);
    }

    /// <summary>
    /// The batch's items as NDJSON lines (docs/csc-api.md), built by PostgreSQL from the stored JSON: no
    /// document is materialized in the node, and the lines are streamed, not held.
    /// </summary>
    public static async IAsyncEnumerable<string> LinesOf(IDocumentStore documents, string batchId)
    {
        await using var query = documents.QuerySession();
        await foreach (var line in query.AdvancedSql.StreamAsync<string>(
                           $"select {InstanceLine} from ssm.mt_doc_productinstance where data ->> 'UploadBatch' = ?", CancellationToken.None, batchId))
            yield return line;
        await foreach (var line in query.AdvancedSql.StreamAsync<string>(
                           $"select {UsageLine} from ssm.mt_doc_usagerecord where data ->> 'UploadBatch' = ?", CancellationToken.None, batchId))
            yield return line;
    }

    /// <summary>Records CSC's answer for a batch; a batch acknowledged before stays as it was.</summary>
    public static async Task AcknowledgeAsync(IDocumentStore documents, string batchId, int accepted, int duplicates, DateTimeOffset now)
    {
        await using var session = documents.LightweightSession();
        if (await session.LoadAsync<UploadBatch>(batchId) is not { } batch || !batch.Acknowledge(accepted, duplicates, now))
            return;
        session.Store(batch);
        await session.SaveChangesAsync();
    }
}
