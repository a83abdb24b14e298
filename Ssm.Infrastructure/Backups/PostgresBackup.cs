using System.Buffers.Binary;
using System.Data;
using System.Text;
using System.Text.Json;
using Npgsql;
using Ssm.Application.Backups;
using Ssm.Application.Common;

namespace Ssm.Infrastructure.Backups;

/// <summary>
/// The node's schema as one stream of PostgreSQL binary COPY data, table by table, all read in one read-only
/// repeatable-read transaction: one snapshot, taken while the node keeps serving (decision 0028). Restored in one
/// transaction. Two tables stay out: the sessions (everyone signs in again after a restore) and the cluster
/// document (membership and epoch belong to the nodes that hold them, not to the data).
/// </summary>
public sealed class PostgresBackup(NpgsqlDataSource dataSource, IClock clock) : IDatabaseBackup
{
    private const string Schema = Persistence.MartenSetup.Schema;
    private static readonly byte[] Magic = "SSMDUMP1"u8.ToArray();
    public static readonly IReadOnlySet<string> LeftOut = new HashSet<string> { "mt_doc_usersession", "mt_doc_clusterdocument" };

    private sealed record TableManifest(string Name, List<string> Columns, long Rows);
    private sealed record SequenceValue(string Name, long Value, bool Called);
    private sealed record Manifest(int Format, DateTimeOffset TakenAt, string Node, string Server, List<TableManifest> Tables, List<SequenceValue> Sequences);

    public async Task<bool> IsStandbyAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select pg_is_in_recovery()");
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<BackupContents> WriteAsync(Stream destination, string node, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        await ExecuteAsync(connection, "set transaction read only", cancellationToken);

        var tables = new List<TableManifest>();
        foreach (var name in await TablesAsync(connection, cancellationToken))
        {
            if (LeftOut.Contains(name))
                continue;
            var rows = (long)(await ScalarAsync(connection, $"select count(*) from {Qualified(name)}", cancellationToken))!;
            tables.Add(new TableManifest(name, await ColumnsAsync(connection, name, cancellationToken), rows));
        }
        var sequences = new List<SequenceValue>();
        foreach (var name in await ListAsync(connection, $"select sequencename from pg_sequences where schemaname = '{Schema}' order by 1", cancellationToken))
        {
            await using var read = new NpgsqlCommand($"select last_value, is_called from {Qualified(name)}", connection);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            sequences.Add(new SequenceValue(name, reader.GetInt64(0), reader.GetBoolean(1)));
        }
        var manifest = new Manifest(1, clock.UtcNow, node, connection.PostgreSqlVersion.ToString(), tables, sequences);

        await destination.WriteAsync(Magic, cancellationToken);
        await WriteBlockAsync(destination, JsonSerializer.SerializeToUtf8Bytes(manifest), cancellationToken);
        var buffer = new byte[128 * 1024];
        foreach (var table in tables)
        {
            await using var copy = await connection.BeginRawBinaryCopyAsync(
                $"copy {Qualified(table.Name)} ({ColumnList(table.Columns)}) to stdout (format binary)", cancellationToken);
            int read;
            while ((read = await copy.ReadAsync(buffer, cancellationToken)) > 0)
                await WriteBlockAsync(destination, buffer.AsMemory(0, read), cancellationToken);
            await WriteBlockAsync(destination, ReadOnlyMemory<byte>.Empty, cancellationToken); // end of this table
        }
        await transaction.CommitAsync(cancellationToken);
        return new BackupContents(tables.Count, tables.Sum(t => t.Rows), manifest.TakenAt, node);
    }

    public async Task<BackupContents> RestoreAsync(Stream source, CancellationToken cancellationToken)
    {
        var magic = new byte[Magic.Length];
        await source.ReadExactlyAsync(magic, cancellationToken);
        if (!magic.AsSpan().SequenceEqual(Magic))
            throw new BackupArchiveException("The backup's contents are not an ssm database dump.");
        var manifest = JsonSerializer.Deserialize<Manifest>(await ReadBlockAsync(source, cancellationToken) ?? [])
            ?? throw new BackupArchiveException("The backup's table of contents is missing.");
        if (manifest.Format != 1)
            throw new BackupArchiveException($"Backup format {manifest.Format} is not known to this version.");

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // Every table and column of the backup must exist here (the same version of ssm made both); names are then
        // taken from this database's own catalog, never from the file.
        var here = await TablesAsync(connection, cancellationToken);
        foreach (var table in manifest.Tables)
        {
            if (!here.Contains(table.Name) || LeftOut.Contains(table.Name))
                throw new BackupArchiveException($"The backup holds table {table.Name}, which this node does not have: restore with the ssm version that took it.");
            var columns = await ColumnsAsync(connection, table.Name, cancellationToken);
            if (table.Columns.Except(columns).FirstOrDefault() is { } missing)
                throw new BackupArchiveException($"The backup's table {table.Name} has a column {missing} that this node's does not.");
        }
        var cleared = manifest.Tables.Select(t => t.Name).Append("mt_doc_usersession").Where(here.Contains).Distinct();
        await ExecuteAsync(connection, $"truncate {string.Join(", ", cleared.Select(Qualified))}", cancellationToken);

        // The tables come back as they were, triggers' rows included: the upload queue's triggers (decision 0041)
        // must not queue the restored items a second time. Ownership suffices (no superuser setting), and it is undone
        // in the same transaction.
        var triggered = manifest.Tables.Select(t => Qualified(t.Name)).ToList();
        foreach (var table in triggered)
            await ExecuteAsync(connection, $"alter table {table} disable trigger user", cancellationToken);
        foreach (var table in manifest.Tables)
        {
            await using (var copy = await connection.BeginRawBinaryCopyAsync(
                             $"copy {Qualified(table.Name)} ({ColumnList(table.Columns)}) from stdin (format binary)", cancellationToken))
            {
                while (await ReadBlockAsync(source, cancellationToken) is { Length: > 0 } block)
                    await copy.WriteAsync(block, cancellationToken);
            }
            var rows = (long)(await ScalarAsync(connection, $"select count(*) from {Qualified(table.Name)}", cancellationToken))!;
            if (rows != table.Rows)
                throw new BackupArchiveException($"Table {table.Name} restored {rows} rows where the backup counted {table.Rows}.");
        }
        foreach (var table in triggered)
            await ExecuteAsync(connection, $"alter table {table} enable trigger user", cancellationToken);
        var sequences = await ListAsync(connection, $"select sequencename from pg_sequences where schemaname = '{Schema}'", cancellationToken);
        foreach (var sequence in manifest.Sequences.Where(s => sequences.Contains(s.Name)))
        {
            await using var set = new NpgsqlCommand($"select setval('{Qualified(sequence.Name).Replace("'", "''")}', $1, $2)", connection);
            set.Parameters.Add(new NpgsqlParameter { Value = sequence.Value });
            set.Parameters.Add(new NpgsqlParameter { Value = sequence.Called });
            await set.ExecuteScalarAsync(cancellationToken);
        }
        if (await source.ReadAsync(new byte[1], cancellationToken) != 0)
            throw new BackupArchiveException("The backup has data after its last table.");
        await transaction.CommitAsync(cancellationToken);
        return new BackupContents(manifest.Tables.Count, manifest.Tables.Sum(t => t.Rows), manifest.TakenAt, manifest.Node);
    }

    private static async Task WriteBlockAsync(Stream destination, ReadOnlyMemory<byte> block, CancellationToken cancellationToken)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, block.Length);
        await destination.WriteAsync(length, cancellationToken);
        if (!block.IsEmpty)
            await destination.WriteAsync(block, cancellationToken);
    }

    private static async Task<byte[]?> ReadBlockAsync(Stream source, CancellationToken cancellationToken)
    {
        var length = new byte[4];
        if (await source.ReadAtLeastAsync(length, 4, false, cancellationToken) < 4)
            throw new BackupArchiveException("The backup's contents end too early.");
        var size = BinaryPrimitives.ReadInt32BigEndian(length);
        if (size is < 0 or > 64 << 20)
            throw new BackupArchiveException("The backup's contents are damaged.");
        var block = new byte[size];
        await source.ReadExactlyAsync(block, cancellationToken);
        return block;
    }

    private static async Task<HashSet<string>> TablesAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        (await ListAsync(connection, $"select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace " +
                                     $"where n.nspname = '{Schema}' and c.relkind = 'r' order by 1", cancellationToken)).ToHashSet();

    private static async Task<List<string>> ColumnsAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 " +
                                                    "and not attisdropped and attgenerated = '' order by attnum", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Qualified(table) });
        var columns = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            columns.Add(reader.GetString(0));
        return columns;
    }

    private static async Task<List<string>> ListAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        var names = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            names.Add(reader.GetString(0));
        return names;
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
    private static string Qualified(string table) => $"{Quote(Schema)}.{Quote(table)}";
    private static string ColumnList(IEnumerable<string> columns) => string.Join(", ", columns.Select(Quote));
}
