using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// Looks at the cluster keys folder every two seconds: when ha_generate_keys --rotate or --retire changed it, the node
/// trusts the new set of CAs, issues itself a certificate of the new signing CA and has its PostgreSQL reload both
/// (decision 0018). A rotation therefore needs no restart.
/// </summary>
public sealed class ClusterKeysWatcher(NodeCertificate certificate, PostgresNode database, ILogger<ClusterKeysWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                if (!certificate.Refresh(out var change))
                {
                    if (change.Length > 0)
                        logger.LogWarning("Cluster keys: {Change}", change);
                    continue;
                }
                await database.ReloadTlsAsync(stoppingToken);
                logger.LogInformation("Cluster keys changed: {Change}; PostgreSQL reloaded its certificate and CAs", change);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or Npgsql.NpgsqlException)
            {
                logger.LogWarning("Cluster keys changed but could not be applied yet: {Error}", ex.Message);
            }
        }
    }
}
