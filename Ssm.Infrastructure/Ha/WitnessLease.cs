using Npgsql;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// The witness (docs/cluster.md, Topology): one lease row per cluster in a small third PostgreSQL, changed only by
/// compare-and-set on the epoch and timed by the witness's own clock (now()), so node clocks never matter.
/// </summary>
public sealed class WitnessLease(Lazy<NodeCertificate> certificate) : IWitness, IAsyncDisposable
{
    private NpgsqlDataSource? _dataSource;

    public bool Configured => _dataSource is not null;

    public void Configure(string? connectionString)
    {
        var old = _dataSource;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            _dataSource = null;
        }
        else
        {
            // Short timeouts: a witness that does not answer within a heartbeat counts as unreachable.
            var builder = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 1, CommandTimeout = 1, Pooling = true };
            // Always TLS with the witness verified (by the cluster CA unless the connection names another); without a
            // password the node logs in with its cluster certificate (decision 0018).
            var node = certificate.Value;
            builder.SslMode = SslMode.VerifyFull;
            if (string.IsNullOrEmpty(builder.RootCertificate))
                builder.RootCertificate = node.Credentials.AuthoritiesPath;
            if (string.IsNullOrEmpty(builder.Password) && string.IsNullOrEmpty(builder.SslCertificate))
            {
                builder.SslCertificate = node.CertificatePath;
                builder.SslKey = node.KeyPath;
            }
            _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        }
        old?.Dispose();
    }

    private NpgsqlDataSource Source => _dataSource ?? throw new InvalidOperationException("no witness is configured");

    public async Task InitializeAsync(string cluster, string holder, long epoch, TimeSpan ttl, CancellationToken cancellationToken)
    {
        await using var command = Source.CreateCommand("""
            create table if not exists ssm_witness_lease (
                cluster text primary key, epoch bigint not null, holder text not null, expires_at timestamptz not null);
            alter table ssm_witness_lease add column if not exists sync_standby text;
            create table if not exists ssm_witness_seen (
                cluster text not null, node text not null, seen_at timestamptz not null, primary key (cluster, node));
            insert into ssm_witness_lease (cluster, epoch, holder, expires_at, sync_standby)
            values (@cluster, @epoch, @holder, now() + @ttl, null)
            on conflict (cluster) do update set epoch = excluded.epoch, holder = excluded.holder, expires_at = excluded.expires_at, sync_standby = null;
            """);
        command.Parameters.AddWithValue("cluster", cluster);
        command.Parameters.AddWithValue("epoch", epoch);
        command.Parameters.AddWithValue("holder", holder);
        command.Parameters.AddWithValue("ttl", ttl);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<LeaseState?> ReadAsync(string cluster, CancellationToken cancellationToken)
    {
        await using var command = Source.CreateCommand(
            "select epoch, holder, expires_at < now(), extract(epoch from expires_at - now()) * 1000, sync_standby from ssm_witness_lease where cluster = @cluster");
        command.Parameters.AddWithValue("cluster", cluster);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            return null;
        return new LeaseState(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), Convert.ToDouble(reader.GetValue(3)),
            reader.IsDBNull(4) ? null : reader.GetString(4));
    }

    public Task<bool> TryAcquireAsync(string cluster, string node, long expectedEpoch, long newEpoch, TimeSpan ttl, CancellationToken cancellationToken) =>
        UpdateAsync("""
            update ssm_witness_lease set epoch = @new, holder = @node, expires_at = now() + @ttl,
                sync_standby = case when @new = epoch then sync_standby end
            where cluster = @cluster and epoch = @expected and (holder = @node or expires_at < now())
            """, cancellationToken, ("cluster", cluster), ("node", node), ("expected", expectedEpoch), ("new", newEpoch), ("ttl", ttl));

    public Task<bool> TryTakeOverAsync(string cluster, string node, long expectedEpoch, bool holderGone, TimeSpan ttl, CancellationToken cancellationToken) =>
        UpdateAsync("""
            update ssm_witness_lease set epoch = epoch + 1, holder = @node, expires_at = now() + @ttl, sync_standby = null
            where cluster = @cluster and epoch = @expected and (expires_at < now() or @gone) and sync_standby = @node and holder <> @node
            """, cancellationToken, ("cluster", cluster), ("node", node), ("expected", expectedEpoch), ("gone", holderGone), ("ttl", ttl));

    public Task<bool> SetSyncStandbyAsync(string cluster, string holder, long epoch, string? standby, CancellationToken cancellationToken) =>
        UpdateAsync("""
            update ssm_witness_lease set sync_standby = @standby
            where cluster = @cluster and holder = @holder and epoch = @epoch
            """, cancellationToken, ("cluster", cluster), ("holder", holder), ("epoch", epoch), ("standby", (object?)standby ?? DBNull.Value));

    public Task<bool> RenewAsync(string cluster, string node, long epoch, TimeSpan ttl, CancellationToken cancellationToken) =>
        UpdateAsync("""
            update ssm_witness_lease set expires_at = now() + @ttl
            where cluster = @cluster and holder = @node and epoch = @epoch
            """, cancellationToken, ("cluster", cluster), ("node", node), ("epoch", epoch), ("ttl", ttl));

    public Task<bool> TransferAsync(string cluster, string from, string to, long epoch, TimeSpan ttl, CancellationToken cancellationToken) =>
        UpdateAsync("""
            update ssm_witness_lease set holder = @to, epoch = @epoch + 1, expires_at = now() + @ttl, sync_standby = null
            where cluster = @cluster and holder = @from and epoch = @epoch
            """, cancellationToken, ("cluster", cluster), ("from", from), ("to", to), ("epoch", epoch), ("ttl", ttl));

    public async Task ReportSeenAsync(string cluster, string node, CancellationToken cancellationToken)
    {
        await using var command = Source.CreateCommand("""
            insert into ssm_witness_seen (cluster, node, seen_at) values (@cluster, @node, now())
            on conflict (cluster, node) do update set seen_at = now()
            """);
        command.Parameters.AddWithValue("cluster", cluster);
        command.Parameters.AddWithValue("node", node);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<TimeSpan?> LastSeenAsync(string cluster, string node, CancellationToken cancellationToken)
    {
        await using var command = Source.CreateCommand(
            "select extract(epoch from now() - seen_at) * 1000 from ssm_witness_seen where cluster = @cluster and node = @node");
        command.Parameters.AddWithValue("cluster", cluster);
        command.Parameters.AddWithValue("node", node);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null or DBNull ? null : TimeSpan.FromMilliseconds(Convert.ToDouble(value));
    }

    private async Task<bool> UpdateAsync(string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Source.CreateCommand(sql);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public ValueTask DisposeAsync()
    {
        _dataSource?.Dispose();
        return ValueTask.CompletedTask;
    }
}
