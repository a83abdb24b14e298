using System.Text.Json;
using System.Text.Json.Serialization;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// Source-generated JSON for what a restarted node reads and sends first (its state file, the peer's hello):
/// building their metadata by reflection is start-up work on the crash rejoin's critical path (the first
/// serialisation of a hello took 0.12-0.14 s on a busy machine).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(PeerHello))]
[JsonSerializable(typeof(HandoverRequest))]
[JsonSerializable(typeof(HandoverReply))]
[JsonSerializable(typeof(JoinRequest))]
[JsonSerializable(typeof(JoinReply))]
[JsonSerializable(typeof(DiscardRequest))]
internal sealed partial class PeerJson : JsonSerializerContext;

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(LocalNodeState))]
internal sealed partial class LocalStateJson : JsonSerializerContext;
