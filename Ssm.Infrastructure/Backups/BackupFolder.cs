using Microsoft.Extensions.Options;
using Ssm.Application.Backups;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Backups;

/// <summary>The node's backup folder (decision 0037): created owner-only, holding files in the format of `ssm backup`.</summary>
public sealed class BackupFolder(IOptions<NodeOptions> options) : IBackupFolder
{
    public string Path { get; } = System.IO.Path.GetFullPath(options.Value.BackupDirectory is { Length: > 0 } folder
        ? folder
        : System.IO.Path.Combine(options.Value.DataDirectory, "backups"));

    public async Task<(BackupContents Contents, long SizeBytes)> WriteAsync(string name, string passphrase,
        Func<Stream, CancellationToken, Task<BackupContents>> write, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
            Directory.CreateDirectory(Path);
        else
            Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // The node writes one backup at a time: a half-written file of its own is what a crash left behind.
        foreach (var stale in Directory.EnumerateFiles(Path, "ssm-backup-*.ssmbackup.partial"))
            if (BackupFileName.IsValid(System.IO.Path.GetFileNameWithoutExtension(stale)))
                File.Delete(stale);
        var (contents, _, size) = await BackupArchive.WriteFileAsync(PathOf(name), passphrase, write, cancellationToken);
        return (contents, size);
    }

    public IReadOnlyList<string> Names() => Directory.Exists(Path)
        ? Directory.EnumerateFiles(Path).Select(f => System.IO.Path.GetFileName(f)).Where(BackupFileName.IsValid).Order(StringComparer.Ordinal).ToList()
        : [];

    public void Delete(string name) => File.Delete(PathOf(name));

    public Stream? OpenRead(string name)
    {
        try
        {
            return new FileStream(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    // The name rule keeps every path inside the folder; the check is repeated here so that no caller can forget it.
    private string PathOf(string name) => BackupFileName.IsValid(name)
        ? System.IO.Path.Combine(Path, name)
        : throw new ArgumentException($"'{name}' is not the name of a backup.", nameof(name));
}
