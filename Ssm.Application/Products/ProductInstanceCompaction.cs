using Ssm.Application.Accounts;
using Ssm.Domain.Products;
using Keys = Ssm.Domain.Products.ProductInstance.Keys;

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
    public const string KeysId = "product-instance-compaction-v2";

    public static async Task RunAsync(IDocumentStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await DropCertificatesAsync(store, now, cancellationToken);
        await ShortenKeysAsync(store, now, cancellationToken);
    }

    private static async Task DropCertificatesAsync(IDocumentStore store, DateTimeOffset now, CancellationToken cancellationToken)
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

    /// <summary>
    /// Decision 0046: the documents' keys become the short ones of <see cref="ProductInstance.Keys"/>, PID and serial
    /// number upper-case (the UDI, unique, was both upper-cased, so no two rows meet), the UDI and a false export flag
    /// go, and a P-256 key keeps its point only. Keys it does not know stay as they are. The unique index on PID and
    /// serial number, made by the schema step before this, replaces the index on the UDI.
    /// </summary>
    private static async Task ShortenKeysAsync(IDocumentStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<AppliedMigration>(KeysId, cancellationToken) is not null)
            return;
        var table = $"{store.Options.DatabaseSchemaName}.mt_doc_productinstance";
        string[] renamed = ["AccountId", "VirtualAccountId", "TokenId", "Pid", "SerialNumber", "Name", "ProductType", "HostName", "ExportControlled",
            "RegisteredAt", "LastContactAt", "CertificateSerial", "CertificateNotAfter", "PublicKey", "Udi"];
        var prefix = Convert.ToHexStringLower(P256Key.InfoPrefix);
        const string Der = "decode(data ->> 'PublicKey', 'base64')";
        session.QueueSqlCommand($"""
            update {table} set data = (data - ?::text[]) || jsonb_strip_nulls(jsonb_build_object(
              '{Keys.AccountId}', data -> 'AccountId', '{Keys.VirtualAccountId}', data -> 'VirtualAccountId', '{Keys.TokenId}', data -> 'TokenId',
              '{Keys.Pid}', to_jsonb(upper(data ->> 'Pid')), '{Keys.SerialNumber}', to_jsonb(upper(data ->> 'SerialNumber')),
              '{Keys.Name}', data -> 'Name', '{Keys.ProductType}', data -> 'ProductType', '{Keys.HostName}', data -> 'HostName',
              '{Keys.ExportControlled}', case when (data ->> 'ExportControlled')::boolean then to_jsonb(true) end,
              '{Keys.RegisteredAt}', data -> 'RegisteredAt', '{Keys.LastContactAt}', data -> 'LastContactAt',
              '{Keys.CertificateSerial}', data -> 'CertificateSerial', '{Keys.CertificateNotAfter}', data -> 'CertificateNotAfter',
              '{Keys.PublicKey}', case when substring({Der} from 1 for {P256Key.InfoPrefix.Length}) = '\x{prefix}'::bytea and length({Der}) = {P256Key.InfoLength}
                                  then to_jsonb(translate(encode(substring({Der} from {P256Key.InfoPrefix.Length + 1}), 'base64'), E'\n', ''))
                                  else data -> 'PublicKey' end))
            where jsonb_exists(data, 'AccountId')
            """, (object)renamed);
        session.QueueSqlCommand($"drop index if exists {store.Options.DatabaseSchemaName}.ux_product_udi");
        session.QueueSqlCommand($"drop index if exists {store.Options.DatabaseSchemaName}.ix_product_pid_serial");
        session.Store(new AppliedMigration { Id = KeysId, AppliedAt = now });
        await session.SaveChangesAsync(cancellationToken);
    }
}
