using JasperFx;
using Marten;
using Marten.Schema;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
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
        options.Schema.For<EventLogEntry>()
            .Index(x => x.At)
            .Index(x => x.Category);
        // Parallel wrong passwords must each count toward the lockout.
        options.Schema.For<UserAccount>().UseOptimisticConcurrency(true);
        options.Schema.For<ClusterDocument>();
        options.Storage.ExtendedSchemaObjects.Add(Security.DataProtectionKeys.Table());
    }
}
