using Ssm.Application.Accounts;
using Ssm.Domain.Products;

namespace Ssm.Application.Sync;

/// <summary>
/// The upload queue of synchronization (decision 0041): a narrow table that gets one row per new product instance
/// and usage record, numbered by a sequence, from triggers on the two document tables; an upload batch is a range of
/// those numbers of one account. Writers of items take a shared advisory lock (in the trigger) and the claim of a
/// range an exclusive one, so a range claimed below the highest number the claim sees can never gain a row later.
/// Applied where the schema is applied, each time (idempotent statements); the move of the items a build before the
/// queue had not sent yet runs once (its mark).
/// </summary>
public static class SyncOutbox
{
    public const string MigrationId = "sync-outbox-v1";
    public const string Table = "ssm.sync_outbox";
    /// <summary>The advisory lock between the writers of items (shared) and the claim of a range (exclusive).</summary>
    public const long Lock = 0x73_73_6d_73_79_6e_63; // "ssmsync"
    public const short InstanceKind = 0;
    public const short UsageKind = 1;

    public static async Task ApplyAsync(IDocumentStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        var migrated = await session.LoadAsync<AppliedMigration>(MigrationId, cancellationToken) is not null;
        session.QueueSqlCommand($"""
            create table if not exists {Table} (
              account_id uuid not null,
              seq bigint generated always as identity,
              kind smallint not null,
              item_id uuid not null,
              primary key (account_id, seq))
            """);
        // A statement trigger reads the inserted rows as a table (one insert here per statement, not per row); with
        // ON CONFLICT DO UPDATE it sees only the rows really inserted. The shared lock lasts until the writer commits.
        // Marten refuses any ';' in a queued command (it batches commands), and the application layer has no driver of
        // its own to run one with: the function's body is an escape string whose semicolons are written \073.
        session.QueueSqlCommand($"""
            create or replace function ssm.sync_outbox_add() returns trigger language plpgsql as E'
            begin
              perform pg_advisory_xact_lock_shared({Lock})\073
              insert into {Table} (account_id, kind, item_id)
              select (data ->> TG_ARGV[1])::uuid, TG_ARGV[0]::smallint, id from inserted order by id\073
              return null\073
            end'
            """);
        session.QueueSqlCommand("create or replace trigger sync_outbox_add after insert on ssm.mt_doc_productinstance "
                                + $"referencing new table as inserted for each statement execute function ssm.sync_outbox_add('{InstanceKind}', '{ProductInstance.Keys.AccountId}')");
        session.QueueSqlCommand("create or replace trigger sync_outbox_add after insert on ssm.mt_doc_usagerecord "
                                + $"referencing new table as inserted for each statement execute function ssm.sync_outbox_add('{UsageKind}', '{nameof(UsageRecord.AccountId)}')");
        // The partial indexes of unsent items of the stamping claims before the queue (decision 0008).
        session.QueueSqlCommand("drop index if exists ssm.mt_doc_productinstance_idx_account_id");
        session.QueueSqlCommand("drop index if exists ssm.mt_doc_usagerecord_idx_account_id");
        if (!migrated)
        {
            // Under the triggers' table locks (taken above, held to commit), so no item is missed or queued twice.
            // Items of a batch claimed but never acknowledged go into the queue again, and that batch is dropped: a
            // new batch id for the same items, which CSC counts once each whatever it saw before (decision 0008).
            const string Unsent = "data ->> 'UploadBatch' is null or data ->> 'UploadBatch' in "
                                  + "(select id from ssm.mt_doc_uploadbatch where data ->> 'AcknowledgedAt' is null)";
            session.QueueSqlCommand($"insert into {Table} (account_id, kind, item_id) select (data ->> '{ProductInstance.Keys.AccountId}')::uuid, {InstanceKind}, id "
                                    + $"from ssm.mt_doc_productinstance where {Unsent} order by id");
            session.QueueSqlCommand($"insert into {Table} (account_id, kind, item_id) select (data ->> '{nameof(UsageRecord.AccountId)}')::uuid, {UsageKind}, id "
                                    + $"from ssm.mt_doc_usagerecord where {Unsent} order by id");
            session.QueueSqlCommand("delete from ssm.mt_doc_uploadbatch where data ->> 'AcknowledgedAt' is null");
            // A claim reads a range of the primary key; a table filled at once and never analyzed is read whole instead.
            session.QueueSqlCommand($"analyze {Table}");
            session.Store(new AppliedMigration { Id = MigrationId, AppliedAt = now });
        }
        await session.SaveChangesAsync(cancellationToken);
    }
}
