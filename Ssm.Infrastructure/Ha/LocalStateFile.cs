using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>ha-state.json in the node's data folder, written atomically (write, fsync, rename).</summary>
public sealed class LocalStateFile(IOptions<NodeOptions> node) : ILocalStateStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    private readonly string _path = Path.Combine(Path.GetFullPath(node.Value.DataDirectory), "ha-state.json");

    public LocalNodeState Load() =>
        File.Exists(_path) ? JsonSerializer.Deserialize<LocalNodeState>(File.ReadAllText(_path), Json) ?? new() : new();

    public void Save(LocalNodeState state)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var temp = _path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(stream, state, Json);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, _path, overwrite: true);
    }
}
