using Ssm.Domain.Products;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>
/// Claiming unsent product instances and usage records into batches, and reading a batch back, for
/// online uploads and offline request files alike (decisions 0008 and 0041).
/// </summary>
public static class UploadBatches
{
    /// <summary>A batch to send, and its NDJSON text when read with the claim (null: read it when needed, <see cref="TextOf"/>).</summary>
    public sealed record Claimed(UploadBatch Batch, IReadOnlyList<string>? Text);

    /// <summary>
    /// Lines per piece of a batch's text: the node handles 160 strings per batch, not 20,000, each small enough
    /// (about 32 KB) to stay out of the large-object heap.
    /// </summary>
    private const int LinesPerPiece = 128;

    private const string InstanceLine = $"""
        jsonb_build_object('kind', 'instance', 'id', d.id, 'pid', data -> '{ProductInstance.Keys.Pid}', 'serial', data -> '{ProductInstance.Keys.SerialNumber}',
                           'name', data -> '{ProductInstance.Keys.Name}', 'registeredAt', data -> '{ProductInstance.Keys.RegisteredAt}', 'seq', 0)::text
        """;

    private const string UsageLine = """
        jsonb_build_object('kind', 'usage', 'id', d.id, 'instanceId', data -> 'InstanceId', 'reportId', data -> 'ReportId',
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
        // The claim is one short transaction under the exclusive lock (decision 0041): the queue's rows numbered up
        // to what it reads are all committed, so the range it stores can never gain an item. The lock is its own
        // statement: the range is read with a snapshot taken after the lock. Claims of one account follow each other.
        await session.BeginTransactionAsync(CancellationToken.None);
        await session.AdvancedSql.QueryAsync<string>($"select pg_advisory_xact_lock({SyncOutbox.Lock})::text", CancellationToken.None);
        var from = await LastClaimedAsync(session, accountId);
        var range = (await session.AdvancedSql.QueryAsync<string>($"""
            select json_build_array(coalesce(max(seq), 0), count(*))::text
            from (select seq from {SyncOutbox.Table} where account_id = ?::uuid and seq > ? order by seq limit {size}) r
            """, CancellationToken.None, accountId.ToString(), from))[0];
        using var parsed = System.Text.Json.JsonDocument.Parse(range);
        var (to, items) = (parsed.RootElement[0].GetInt64(), parsed.RootElement[1].GetInt32());
        if (items == 0)
            return null;
        var batch = new UploadBatch
        {
            Id = $"b-{Guid.CreateVersion7(now):N}", AccountId = accountId, ClaimedAt = now, FromSeq = from, ToSeq = to, Items = items,
        };
        session.Store(batch);
        await session.SaveChangesAsync();
        var text = new List<string>(items / LinesPerPiece + 2);
        await foreach (var piece in TextOf(documents, batch))
            text.Add(piece);
        return new Claimed(batch, text);
    }

    /// <summary>The queue number up to which the account's items are in batches already (0: none yet).</summary>
    private static async Task<long> LastClaimedAsync(IQuerySession query, Guid accountId) =>
        (await query.AdvancedSql.QueryAsync<long>(
            "select coalesce(max(CAST(data ->> 'ToSeq' as bigint)), 0) from ssm.mt_doc_uploadbatch where CAST(data ->> 'AccountId' as uuid) = ?::uuid",
            CancellationToken.None, accountId.ToString()))[0];

    /// <summary>How many items of the account wait: in batches not acknowledged, and in the queue after the last batch.</summary>
    public static async Task<long> PendingAsync(IQuerySession query, Guid accountId)
    {
        var open = await query.Query<UploadBatch>().Where(b => b.AccountId == accountId && b.AcknowledgedAt == null).ToListAsync();
        var from = await LastClaimedAsync(query, accountId);
        var queued = (await query.AdvancedSql.QueryAsync<long>($"select count(*) from {SyncOutbox.Table} where account_id = ?::uuid and seq > ?",
            CancellationToken.None, accountId.ToString(), from))[0];
        return open.Sum(b => (long)b.Items) + queued;
    }

    /// <summary>
    /// The batch's items as NDJSON (docs/csc-api.md), instances first, built by PostgreSQL from the stored JSON: pieces
    /// of up to 128 lines joined by newlines (no newline after a piece's last line). No document is materialized
    /// in the node, and the pieces are streamed, not held.
    /// </summary>
    public static async IAsyncEnumerable<string> TextOf(IDocumentStore documents, UploadBatch batch)
    {
        await using var query = documents.QuerySession();
        await foreach (var piece in query.AdvancedSql.StreamAsync<string>($"""
                           with lines as (
                             select {SyncOutbox.InstanceKind} as kind, q.seq, {InstanceLine} as line
                             from {SyncOutbox.Table} q join ssm.mt_doc_productinstance d on d.id = q.item_id
                             where q.account_id = ?::uuid and q.seq > ? and q.seq <= ? and q.kind = {SyncOutbox.InstanceKind}
                             union all
                             select {SyncOutbox.UsageKind}, q.seq, {UsageLine}
                             from {SyncOutbox.Table} q join ssm.mt_doc_usagerecord d on d.id = q.item_id
                             where q.account_id = ?::uuid and q.seq > ? and q.seq <= ? and q.kind = {SyncOutbox.UsageKind})
                           select string_agg(line, E'\n') from lines group by kind, seq / {LinesPerPiece} order by kind, seq / {LinesPerPiece}
                           """, CancellationToken.None, batch.AccountId.ToString(), batch.FromSeq, batch.ToSeq,
                           batch.AccountId.ToString(), batch.FromSeq, batch.ToSeq))
            yield return piece;
    }

    /// <summary>The batch's items one NDJSON line each (offline request files hold them as JSON values).</summary>
    public static async IAsyncEnumerable<string> LinesOf(IDocumentStore documents, UploadBatch batch, IReadOnlyList<string>? text = null)
    {
        await foreach (var piece in text?.ToAsyncEnumerable() ?? TextOf(documents, batch))
            foreach (var line in piece.Split('\n'))
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
