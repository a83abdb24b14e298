using System.Text.RegularExpressions;

namespace Ssm.Application.Backups;

/// <summary>
/// The node's backup folder (Node:BackupDirectory, by default backups/ under its data directory): encrypted backup files
/// in the format of `ssm backup`, readable by the node's user only. Only names of <see cref="BackupFileName"/> are touched.
/// </summary>
public interface IBackupFolder
{
    string Path { get; }

    /// <summary>Writes <paramref name="name"/> encrypted with <paramref name="passphrase"/>: visible under its name only once sealed.</summary>
    Task<(BackupContents Contents, long SizeBytes)> WriteAsync(string name, string passphrase,
        Func<Stream, CancellationToken, Task<BackupContents>> write, CancellationToken cancellationToken);

    /// <summary>The backup files in the folder, oldest first.</summary>
    IReadOnlyList<string> Names();

    void Delete(string name);

    /// <summary>The file to stream, or null when the folder holds no such backup.</summary>
    Stream? OpenRead(string name);
}

/// <summary>The names the node gives its backups: the time they started, so that names sort as the backups were taken.</summary>
public static partial class BackupFileName
{
    public static string For(DateTimeOffset startedAt) => $"ssm-backup-{startedAt.UtcDateTime:yyyyMMdd-HHmmss-fff}.ssmbackup";

    /// <summary>Anything else — a path, "..", another file of the folder — is no backup name and is refused before the disk is touched.</summary>
    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);

    [GeneratedRegex(@"^ssm-backup-\d{8}-\d{6}-\d{3}\.ssmbackup\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
