using System.Text.Json;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>ha-state.json in the node's data folder, written atomically (write, fsync, rename), readable by the service user only.</summary>
public sealed class LocalStateFile(IOptions<NodeOptions> node) : ILocalStateStore
{
    private readonly string _path = Path.Combine(Path.GetFullPath(node.Value.DataDirectory), "ha-state.json");

    public LocalNodeState Load() =>
        File.Exists(_path) ? JsonSerializer.Deserialize(File.ReadAllText(_path), LocalStateJson.Default.LocalNodeState) ?? new() : new();

    public void Save(LocalNodeState state)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var temp = _path + ".tmp";
        File.Delete(temp);
        using (var stream = OperatingSystem.IsWindows()
                   ? new FileStream(temp, FileMode.CreateNew, FileAccess.Write)
                   : new FileStream(temp, new FileStreamOptions
                   {
                       Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                   }))
        {
            JsonSerializer.Serialize(stream, state, LocalStateJson.Default.LocalNodeState);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, _path, overwrite: true);
    }
}
