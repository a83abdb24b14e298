using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ssm.Infrastructure.Persistence;

/// <summary>
/// Applies the Marten schema when the node starts, but only if its database accepts writes:
/// a hot standby is read-only and receives the schema through replication.
/// </summary>
public sealed class SchemaInitializer(IDocumentStore store, NpgsqlDataSource dataSource, ILogger<SchemaInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        bool inRecovery;
        try
        {
            await using var command = dataSource.CreateCommand("select pg_is_in_recovery()");
            inRecovery = (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        catch (NpgsqlException ex)
        {
            // A stopped cluster node has no database running; the schema is applied when it becomes active.
            logger.LogInformation("Database not reachable at start-up ({Error}); schema not checked", ex.Message);
            return;
        }
        if (inRecovery)
        {
            logger.LogInformation("Database is a read-only standby; schema left as replicated");
            return;
        }
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Application.Accounts.VirtualAccountMigration.RunAsync(store, DateTimeOffset.UtcNow, cancellationToken);
        await Application.Products.ProductInstanceCompaction.RunAsync(store, DateTimeOffset.UtcNow, cancellationToken);
        logger.LogInformation("Database schema is up to date");
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
