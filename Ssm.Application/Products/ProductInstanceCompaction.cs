using Ssm.Application.Accounts;

namespace Ssm.Application.Products;

/// <summary>
/// Brings product instances stored before decision 0035 to the compact shape: their documents lose the ID
/// certificate's PEM (nothing reads it: the product has its certificate; serial, expiry and public key stay), the
/// table loses Marten's informational columns, the unused index on the token and the one on the registration time
/// (the id, a version 7 UUID of that time, sorts the same). Runs where the schema is applied,
/// on a writable database, in one transaction; the mark makes it run once. The rows it rewrites leave their old
/// versions as free space that new registrations reuse; <c>VACUUM FULL ssm.mt_doc_productinstance</c> in a
/// maintenance window gives it back to the file system (README).
/// </summary>
public static class ProductInstanceCompaction
{
    public const string Id = "product-instance-compaction-v1";

    public static async Task RunAsync(IDocumentStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<AppliedMigration>(Id, cancellationToken) is not null)
            return;
        var table = $"{store.Options.DatabaseSchemaName}.mt_doc_productinstance";
        // jsonb_exists is the ? operator, which Marten would take for a parameter.
        session.QueueSqlCommand($"update {table} set data = data - 'CertificatePem' where jsonb_exists(data, 'CertificatePem')");
        session.QueueSqlCommand($"drop index if exists {table}_idx_token_id");
        session.QueueSqlCommand($"drop index if exists {table}_idx_registered_at");
        session.QueueSqlCommand($"alter table {table} drop column if exists mt_dotnet_type, drop column if exists mt_version, "
                                + "drop column if exists mt_last_modified");
        session.Store(new AppliedMigration { Id = Id, AppliedAt = now });
        await session.SaveChangesAsync(cancellationToken);
    }
}
