using System.Text.Json;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>ha-state.json in the node's data folder, written atomically (write, fsync, rename), readable by the service user only.</summary>
public sealed class LocalStateFile(IOptions<NodeOptions> node) : ILocalStateStore
{
    private readonly string _path = Path.Combine(Path.GetFullPath(node.Value.DataDirectory), "ha-state.json");

    public LocalNodeState Load()
    {
        if (!File.Exists(_path))
            return new();
        var text = File.ReadAllText(_path);
        var state = JsonSerializer.Deserialize(text, LocalStateJson.Default.LocalNodeState) ?? new();
        // A file from before decision 0018 held the witness's password, readable by anyone: written again without it, 0600.
        if (text.Contains("\"Witness\"") || (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(_path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0))
            Save(state);
        return state;
    }

    public void Save(LocalNodeState state)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        PrivateFile.Write(_path, stream => JsonSerializer.Serialize(stream, state, LocalStateJson.Default.LocalNodeState));
    }
}
