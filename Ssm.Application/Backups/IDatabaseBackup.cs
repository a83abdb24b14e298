namespace Ssm.Application.Backups;

/// <summary>What a backup holds: its tables and their rows, counted in the snapshot that was copied.</summary>
public sealed record BackupContents(int Tables, long Rows, DateTimeOffset TakenAt, string Node);

/// <summary>
/// The node's database as one stream: everything that must survive a disaster lives there (accounts, licenses,
/// product instances and tokens, the product CA, the server certificate, settings, the data protection keys).
/// </summary>
public interface IDatabaseBackup
{
    /// <summary>True when the database is a standby (in recovery): backups are taken from the active node.</summary>
    Task<bool> IsStandbyAsync(CancellationToken cancellationToken);

    /// <summary>Copies every table from one snapshot (a read-only repeatable-read transaction) to the destination.</summary>
    Task<BackupContents> WriteAsync(Stream destination, string node, CancellationToken cancellationToken);

    /// <summary>Replaces the restorable tables with the backup's rows in one transaction: all of it or nothing.</summary>
    Task<BackupContents> RestoreAsync(Stream source, CancellationToken cancellationToken);
}
