using System.CommandLine;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ssm.Application.Ha;
using Ssm.Domain.Nodes;
using Ssm.Infrastructure.Ha;

namespace Ssm.Web.Console;

/// <summary>
/// The appliance's HA console verbs. Each asks the running node (its admin API, with the cluster key) to
/// send the matching mediator command, and prints the answer. Exit codes: 0 done, 1 failed,
/// 2 invalid input, 3 refused in this state (nothing changed), 4 node unreachable, 5 cluster key refused.
/// </summary>
public static class HaCommands
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = true,
    };

    private static readonly Option<string> NodeUrl = new("--node")
    {
        Description = "URL of this node (env SSM_NODE)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SSM_NODE") ?? "http://127.0.0.1:8080",
    };

    private static readonly Option<string?> KeyFile = new("--key")
    {
        Description = "cluster key file from ha_generate_keys (env SSM_CLUSTER_KEY_FILE)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SSM_CLUSTER_KEY_FILE"),
    };

    private static readonly Option<bool> AsJson = new("--json") { Description = "print JSON instead of text" };

    public static IEnumerable<Command> All()
    {
        yield return GenerateKeys();
        yield return Deploy();
        yield return Status();
        yield return Verb("ha_cluster_stop", "Stop cluster services on this node; an active node hands over to the standby first",
            "Stopping cluster services...", "/admin/ha/cluster-stop");
        yield return Verb("ha_cluster_start", "Start cluster services on this node: it rejoins as standby of the active (or resumes as active)",
            "Starting cluster services...", "/admin/ha/cluster-start");
        yield return Verb("ha_teardown", "Dissolve the cluster on the active node: it becomes standalone; the other node is discarded",
            "Tearing down the cluster...", "/admin/ha/teardown");
        yield return Verb("ha_takeover", "On the standby: take over from an active that is gone (needed when no witness is configured)",
            "Taking over...", "/admin/ha/takeover");
    }

    private static Command GenerateKeys()
    {
        var output = new Option<string>("--out") { Description = "file to write the key to", DefaultValueFactory = _ => "cluster.key" };
        var force = new Option<bool>("--force") { Description = "overwrite an existing key file" };
        var command = new Command("ha_generate_keys", "Generate the cluster key shared by both nodes and the witness") { output, force };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(output)!;
            if (File.Exists(path) && !parse.GetValue(force))
            {
                System.Console.Error.WriteLine($"error: {path} exists; a new key would lock the nodes out of each other. Use --force to replace it.");
                return 3;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, ClusterKey.Generate() + "\n");
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            System.Console.WriteLine($"Cluster key written to {path}. Give the same file to both nodes (--cluster-key-file).");
            return 0;
        });
        return command;
    }

    private static Command Deploy()
    {
        var peer = new Option<string>("--peer") { Description = "URL of the secondary node, e.g. http://127.0.0.9:8080", Required = true };
        var vip = new Option<string>("--vip") { Description = "virtual IP address, e.g. 127.0.0.14", Required = true };
        var witness = new Option<string?>("--witness") { Description = "connection string of the witness PostgreSQL (strongly advised)" };
        var command = new Command("ha_deploy", "On the primary: copy its database to the secondary and start the cluster")
        {
            NodeUrl, KeyFile, AsJson, peer, vip, witness,
        };
        command.SetAction((parse, ct) => CallAsync(parse, "Deploying the cluster (this copies the database to the secondary)...",
            HttpMethod.Post, "/admin/ha/deploy", new DeployCluster(parse.GetValue(peer)!, parse.GetValue(vip)!, parse.GetValue(witness)), ct));
        return command;
    }

    private static Command Status()
    {
        var command = new Command("ha_status", "Show the cluster: nodes, roles, heartbeat, VIP, replication, epoch, witness, last failover")
        {
            NodeUrl, KeyFile, AsJson,
        };
        command.SetAction((parse, ct) => CallAsync(parse, null, HttpMethod.Get, "/admin/ha/status", null, ct));
        return command;
    }

    private static Command Verb(string name, string description, string progress, string path)
    {
        var command = new Command(name, description) { NodeUrl, KeyFile, AsJson };
        command.SetAction((parse, ct) => CallAsync(parse, progress, HttpMethod.Post, path, null, ct));
        return command;
    }

    private static async Task<int> CallAsync(ParseResult parse, string? progress, HttpMethod method, string path, object? body, CancellationToken ct)
    {
        var json = parse.GetValue(AsJson);
        var keyPath = parse.GetValue(KeyFile);
        if (string.IsNullOrEmpty(keyPath) || !File.Exists(keyPath))
        {
            System.Console.Error.WriteLine("error: no cluster key: pass --key FILE (from ha_generate_keys) or set SSM_CLUSTER_KEY_FILE.");
            return 2;
        }
        if (progress is not null && !json)
            System.Console.WriteLine(progress);

        using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(NodeUrl)!), Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Add(HttpPeerLink.KeyHeader, File.ReadAllText(keyPath).Trim());
        HttpResponseMessage response;
        try
        {
            var request = new HttpRequestMessage(method, path);
            if (body is not null)
                request.Content = JsonContent.Create(body, body.GetType(), options: Json);
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException ex)
        {
            System.Console.Error.WriteLine($"error: the node at {http.BaseAddress} does not answer ({ex.Message}). Is `ssm node` running?");
            return 4;
        }
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            var detail = ProblemDetail(text);
            if (json)
                System.Console.WriteLine(text);
            else
                System.Console.Error.WriteLine($"error: {detail}");
            return (int)response.StatusCode switch { 400 => 2, 401 => 5, 409 => 3, _ => 1 };
        }
        if (json)
        {
            System.Console.WriteLine(text);
            return 0;
        }
        if (path.EndsWith("/status"))
        {
            var status = JsonSerializer.Deserialize<HaStatus>(text, Json)!;
            System.Console.Write(Render(status));
            return status.Deployed ? 0 : 3;
        }
        System.Console.WriteLine(JsonSerializer.Deserialize<VerbResult>(text, Json)!.Message);
        return 0;
    }

    private static string ProblemDetail(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.TryGetProperty("detail", out var detail) ? detail.GetString() ?? text : text;
        }
        catch (JsonException)
        {
            return text;
        }
    }

    public static string Render(HaStatus s)
    {
        var b = new StringBuilder();
        if (!s.Deployed)
        {
            b.AppendLine($"The HA cluster is not running on this node ({s.Self.Name} is {s.Self.Role.ToString().ToLowerInvariant()}: {s.Self.Reason}).");
            return b.ToString();
        }
        b.AppendLine($"HA cluster status, seen from {s.Self.Name}");
        b.AppendLine();
        b.AppendLine($"  {"Node",-14} {"Identity",-10} {"Address",-16} {"Role",-9} Detail");
        foreach (var n in new[] { s.Self, s.Peer! }.OrderBy(n => n.Identity == "primary" ? 0 : 1))
            b.AppendLine($"  {n.Name,-14} {n.Identity,-10} {n.Address,-16} {n.Role,-9} {n.Reason}");
        b.AppendLine();
        b.AppendLine($"  {"Heartbeat",-14} {(s.HeartbeatConnected ? "connected" : "disconnected")}{(s.HeartbeatAgeMs is { } age ? $" (last seen {age:0} ms ago)" : "")}");
        b.AppendLine($"  {"VIP",-14} {s.Vip} ({s.VipProvider}), held by {s.VipHolder ?? "nobody"}");
        var replication = s.ReplicationFrom is null ? "none" : $"{s.ReplicationFrom} → {s.ReplicationTo}";
        var lag = s.LagBytes is null ? "" : $", lag {s.LagBytes} bytes / {s.LagSeconds:0.000} s";
        b.AppendLine($"  {"Replication",-14} {replication}, {s.Mode.ToString().ToLowerInvariant()}{lag}, timeline {s.Timeline}");
        b.AppendLine($"  {"Epoch",-14} {s.Epoch}");
        b.AppendLine($"  {"Witness",-14} {(s.WitnessConfigured ? (s.WitnessReachable == true ? "reachable" : "UNREACHABLE") + (s.LeaseHolder is null ? "" : $", lease held by {s.LeaseHolder}") : "none (a crashed active is taken over only by ha_takeover)")}");
        if (s.TakeoverNeedsOperator)
            b.AppendLine($"  {"Attention",-14} the active is unreachable and this standby will not take over on its own (no witness, or not in sync): check, then run ha_takeover");
        b.AppendLine($"  {"Last failover",-14} {(s.LastFailover is { } f ? $"{f.At:u} {f.Cause}: {f.From} → {f.To} in {f.DurationMs:0} ms (epoch {f.Epoch})" : "none")}");
        return b.ToString();
    }
}
