using System.Runtime.InteropServices;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// When the node runs as root, PostgreSQL runs as the postgres user and must own its folders and files (its key
/// above all: it refuses one it cannot call its own). chown(2) directly: a chown program per start cost 0.1-0.3 s of
/// a rejoin on a busy machine. As any other user, the node and PostgreSQL are the same user and nothing changes hands.
/// </summary>
internal static class PostgresOwner
{
    private static readonly Lazy<(uint User, uint Group)?> Postgres = new(() =>
    {
        if (!ProcessRunner.IsRoot || !File.Exists("/etc/passwd"))
            return null;
        var line = File.ReadLines("/etc/passwd").FirstOrDefault(l => l.StartsWith("postgres:", StringComparison.Ordinal));
        var fields = line?.Split(':');
        return fields is { Length: > 3 } && uint.TryParse(fields[2], out var user) && uint.TryParse(fields[3], out var group) ? (user, group) : null;
    });

    [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int Chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);

    /// <summary>Makes postgres the owner (or, with groupOnly, the group, the owner staying root) of the path.</summary>
    public static void Give(string path, bool groupOnly = false)
    {
        if (Postgres.Value is not { } postgres)
            return;
        // uint.MaxValue (-1) leaves the owner as it is.
        if (Chown(path, groupOnly ? uint.MaxValue : postgres.User, postgres.Group) != 0)
            throw new IOException($"chown {path}: error {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Writes the file (0600) only when its bytes differ, and gives it to postgres; true when it was written.</summary>
    public static bool WriteIfChanged(string path, byte[] content)
    {
        if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(content))
            return false;
        PrivateFile.Write(path, stream => stream.Write(content));
        Give(path);
        return true;
    }
}
