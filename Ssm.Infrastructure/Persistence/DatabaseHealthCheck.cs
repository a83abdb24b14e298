using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Ssm.Infrastructure.Persistence;

/// <summary>Ready means the node's own database answers.</summary>
public sealed class DatabaseHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("select pg_is_in_recovery()");
            var standby = (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
            return HealthCheckResult.Healthy(standby ? "database is a read-only standby" : "database is writable");
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy("database unreachable: " + ex.Message);
        }
    }
}
