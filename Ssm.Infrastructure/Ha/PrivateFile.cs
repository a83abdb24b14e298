namespace Ssm.Infrastructure.Ha;

/// <summary>
/// A file only its owner may read (0600 from the moment it exists, not chmod-ed after), replaced atomically: written
/// to a temporary name, synced, then renamed over the old one. Keys, certificates and the node's state use it.
/// </summary>
public static class PrivateFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var temp = path + ".tmp";
        File.Delete(temp);
        using (var stream = OperatingSystem.IsWindows()
                   ? new FileStream(temp, FileMode.CreateNew, FileAccess.Write)
                   : new FileStream(temp, new FileStreamOptions
                   {
                       Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                   }))
        {
            write(stream);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    public static void Write(string path, string text) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream, leaveOpen: true);
        writer.Write(text);
    });
}
