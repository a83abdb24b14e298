using JasperFx;
using Marten;
using Marten.Schema;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Licenses;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;
using Ssm.Domain.Nodes;
using Ssm.Domain.Users;

namespace Ssm.Infrastructure.Persistence;

internal static class MartenSetup
{
    public const string Schema = "ssm";

    public static void Configure(StoreOptions options)
    {
        options.DatabaseSchemaName = Schema;
        // The schema is applied explicitly at start-up, and only on a writable database (SchemaInitializer).
        options.AutoCreateSchemaObjects = AutoCreate.None;

        options.Schema.For<LocalAccount>()
            .UniqueIndex(UniqueIndexType.Computed, "ux_account_name_key", x => x.NameKey);
        options.Schema.For<VirtualAccount>()
            .UniqueIndex(UniqueIndexType.Computed, "ux_virtual_account_name_key", x => x.NameKey)
            .Index(x => x.AccountId);
        options.Schema.For<Application.Accounts.AppliedMigration>();
        options.Schema.For<EventLogEntry>()
            .Index(x => x.At)
            .Index(x => x.Category);
        options.Schema.For<UserAccount>().UseOptimisticConcurrency(true);
        options.Schema.For<UserSession>().Index(x => x.ExpiresAt);
        options.Schema.For<ClusterDocument>();

        options.Schema.For<Entitlement>().Index(x => x.AccountId);
        options.Schema.For<SyncRun>().Index(x => x.StartedAt).Index(x => x.Result);
        options.Schema.For<SyncSchedule>();
        options.Schema.For<Domain.Backups.BackupSchedule>();
        options.Schema.For<Domain.Backups.BackupRun>().Index(x => x.StartedAt);
        options.Schema.For<Domain.Notifications.NotificationSettings>();
        options.Schema.For<Domain.Certificates.ServerCertificate>();
        // An account's open batches, and its last claimed number (the next claim starts after it) from the end of one index.
        options.Schema.For<UploadBatch>().Index([x => x.AccountId, x => x.ToSeq], index => index.Name = "ix_upload_batch_account_seq");
        // Synchronization finds unsent items in its own queue (Sync/SyncOutbox, decision 0041), filled by triggers
        // on these two tables: no index here for it, and no write to the documents when they are sent.
        // A million of them (decision 0035): no informational columns (type name, version, last modified: nothing
        // reads them, about 80 bytes a row), no index on the token (its products are counted by account).
        options.Schema.For<ProductInstance>()
            .Metadata(m => m.DisableInformationalFields())
            // The account's products, and those of one of its virtual accounts, from one index: no index more to write per registration.
            .Index([x => x.AccountId, x => x.VirtualAccountId], index => index.Name = "ix_product_account")
            .Index(x => x.Name)
            // No index on RegisteredAt: the id is a version 7 UUID of the registration time, and the primary key sorts by it.
            // The Product Instances page sorts by each of these and searches all three by substring: without an index
            // every row's JSON is read (about 5 s at a million products). A PID is shared by thousands of
            // products, so its sort goes on by serial number, from the same index, which is also the one registration
            // per product (its UDI, decision 0046).
            .Index([x => x.Pid, x => x.SerialNumber], index =>
            {
                index.Name = "ux_product_pid_serial";
                index.IsUnique = true;
            })
            .Index(x => x.SerialNumber)
            .Index(x => x.LastContactAt)
            .Index(x => x.Name, Trigrams("ix_product_name_trgm"))
            .Index(x => x.Pid, Trigrams("ix_product_pid_trgm"))
            .Index(x => x.SerialNumber, Trigrams("ix_product_serial_trgm"));
        options.Schema.For<ProductUsage>().Index(x => x.AccountId).UseOptimisticConcurrency(true);
        options.Schema.For<UsageRecord>();
        options.Schema.For<Domain.Registration.RegistrationToken>()
            .UniqueIndex(UniqueIndexType.Computed, "ux_registration_token_hash", x => x.SecretHash)
            .UseOptimisticConcurrency(true)
            .Index(x => x.AccountId)
            .Index(x => x.VirtualAccountId);
        options.Schema.For<Domain.Registration.ProductAuthority>();
        options.Schema.For<ApiClient>()
            .UniqueIndex(UniqueIndexType.Computed, "ux_api_client_id", x => x.ClientId)
            .Index(x => x.AccountId);
        options.Storage.ExtendedSchemaObjects.Add(new Extension("pg_trgm"));
        options.Storage.ExtendedSchemaObjects.Add(Security.DataProtectionKeys.Table());
    }

    /// <summary>A trigram index: ILIKE '%text%' reads it instead of every row.</summary>
    private static Action<ComputedIndex> Trigrams(string name) => index =>
    {
        index.Name = name;
        index.Method = IndexMethod.gin;
        index.Mask = "? gin_trgm_ops";
    };
}
