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
/// The appliance's HA console verbs. Each asks the running node (its admin API on the peer port, over mutual TLS
/// with a console certificate it issues itself from the cluster CA for this one call) to send the matching
/// mediator command, and prints the answer. Exit codes: 0 done, 1 failed,
/// 2 invalid input, 3 refused in this state (nothing changed), 4 node unreachable, 5 refused (not this cluster's CA).
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
        Description = "peer URL of this node (env SSM_NODE), e.g. https://127.0.0.11:8444",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SSM_NODE") ?? "https://127.0.0.1:8444",
    };

    private static readonly Option<string?> KeyFile = new("--keys")
    {
        Description = "cluster keys folder from ha_generate_keys (env SSM_CLUSTER_KEYS)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SSM_CLUSTER_KEYS"),
    };

    private static readonly Option<bool> AsJson = new("--json") { Description = "print JSON instead of text" };

    public static IEnumerable<Command> All()
    {
        yield return GenerateKeys();
        yield return WitnessInit();
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
        var output = new Option<string>("--out") { Description = "folder to write the cluster CA to", DefaultValueFactory = _ => "cluster-keys" };
        var rotate = new Option<bool>("--rotate") { Description = "rotation, step 1: add a new CA that every node trusts (the old one still signs)" };
        var switchTo = new Option<bool>("--switch") { Description = "rotation, step 2: the new CA signs; nodes issue themselves new certificates" };
        var retire = new Option<bool>("--retire") { Description = "rotation, step 3: trust only the new CA" };
        var issue = new Option<string?>("--issue") { Description = "issue a server certificate NAME.crt/NAME.key for another server of the cluster (the witness)" };
        var address = new Option<string[]>("--address") { Description = "IP address or DNS name the issued certificate is for (repeatable)", AllowMultipleArgumentsPerToken = true };
        var role = new Option<string>("--role") { Description = "role of the issued certificate: server, or console (a client of the console API, for scripts)",
            DefaultValueFactory = _ => ClusterCredentials.ServerRole };
        var command = new Command("ha_generate_keys", "Make the cluster's own CA (ca.crt, ca.key); copy the folder to both nodes (--cluster-keys)")
        {
            output, rotate, switchTo, retire, issue, address, role,
        };
        command.SetAction(parse =>
        {
            var path = Path.GetFullPath(parse.GetValue(output)!);
            try
            {
                if (parse.GetValue(issue) is { } name)
                {
                    var names = parse.GetValue(address) ?? [];
                    var ips = names.Select(n => System.Net.IPAddress.TryParse(n, out var ip) ? ip : null).OfType<System.Net.IPAddress>().ToList();
                    var kind = parse.GetValue(role) is ClusterCredentials.ConsoleRole ? ClusterCredentials.ConsoleRole : ClusterCredentials.ServerRole;
                    using var certificate = ClusterCredentials.Load(path).Issue(name, kind, ips,
                        names.Where(n => !System.Net.IPAddress.TryParse(n, out _)), kind == ClusterCredentials.ConsoleRole ? TimeSpan.FromDays(1) : TimeSpan.FromDays(397));
                    ClusterCredentials.WriteCertificate(certificate, Path.Combine(path, $"{name}.crt"), Path.Combine(path, $"{name}.key"));
                    System.Console.WriteLine($"A {kind} certificate '{name}' written to {path}/{name}.crt and {name}.key.");
                    return 0;
                }
                const string apply = "Copy the folder to both nodes; each applies it within 2 s (its log says \"Cluster keys changed\"). " +
                                     "Wait for both before the next step (docs/security.md).";
                if (parse.GetValue(switchTo))
                {
                    ClusterCredentials.SwitchToNext(path);
                    System.Console.WriteLine($"The new CA signs now (step 2 of 3). {apply} Then run --retire.");
                    return 0;
                }
                if (parse.GetValue(retire))
                {
                    ClusterCredentials.Load(path).RetireOldAuthorities();
                    System.Console.WriteLine($"{path}/ca.crt now trusts only the signing CA (step 3 of 3). {apply}");
                    return 0;
                }
                var exists = File.Exists(Path.Combine(path, ClusterCredentials.IssuerKeyFile));
                if (exists && !parse.GetValue(rotate))
                {
                    System.Console.Error.WriteLine($"error: {path} holds a cluster CA already; a new one would lock the nodes out of each other. " +
                                                   "Use --rotate to add a new CA beside it (docs/security.md).");
                    return 3;
                }
                var fingerprint = ClusterCredentials.Generate(path, rotate: exists);
                System.Console.WriteLine(exists
                    ? $"A new CA (SHA-256 {fingerprint}) is trusted beside the old one, which still signs (step 1 of 3). {apply} Then run --switch."
                    : $"Cluster CA (SHA-256 {fingerprint}) written to {path}. Copy the folder to both nodes, readable by the " +
                      "service user only, and start each with --cluster-keys.");
                return 0;
            }
            catch (ClusterCredentialsException ex)
            {
                System.Console.Error.WriteLine($"error: {ex.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command WitnessInit()
    {
        var data = new Option<string>("--data") { Description = "the witness PostgreSQL's data folder", Required = true };
        var keys = new Option<string?>("--keys") { Description = "cluster keys folder (env SSM_CLUSTER_KEYS)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SSM_CLUSTER_KEYS") };
        var address = new Option<string>("--address") { Description = "address the witness listens on, e.g. 127.0.0.13", Required = true };
        var port = new Option<int>("--port") { Description = "its port", DefaultValueFactory = _ => 5432 };
        var command = new Command("ha_witness_init", "Prepare a witness PostgreSQL (TLS only, nodes admitted by cluster certificate); prints the nodes' --witness")
        {
            data, keys, address, port,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var bin = PostgresNode.FindBin() ?? "/usr/lib/postgresql/15/bin";
                System.Console.WriteLine(await WitnessSetup.InitializeAsync(bin, parse.GetValue(data)!, parse.GetValue(keys)!, parse.GetValue(address)!,
                    parse.GetValue(port), ct));
                return 0;
            }
            catch (ClusterCredentialsException ex)
            {
                System.Console.Error.WriteLine($"error: {ex.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command Deploy()
    {
        var peer = new Option<string>("--peer") { Description = "peer URL of the secondary node, e.g. https://127.0.0.9:8444", Required = true };
        var vip = new Option<string>("--vip") { Description = "virtual IP address, e.g. 127.0.0.14", Required = true };
        var command = new Command("ha_deploy", "On the primary: copy its database to the secondary and start the cluster (the witness is each node's --witness)")
        {
            NodeUrl, KeyFile, AsJson, peer, vip,
        };
        command.SetAction((parse, ct) => CallAsync(parse, "Deploying the cluster (this copies the database to the secondary)...",
            HttpMethod.Post, "/admin/ha/deploy", new DeployCluster(parse.GetValue(peer)!, parse.GetValue(vip)!), ct));
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
        ClusterCredentials credentials;
        try
        {
            credentials = ClusterCredentials.Load(parse.GetValue(KeyFile));
        }
        catch (ClusterCredentialsException ex)
        {
            System.Console.Error.WriteLine($"error: {ex.Message} (console verbs: --keys DIR or SSM_CLUSTER_KEYS)");
            return 2;
        }
        if (progress is not null && !json)
            System.Console.WriteLine(progress);

        using var certificate = credentials.IssueConsole();
        using var http = new HttpClient(HttpPeerLink.CreateHandler(credentials, certificate, ClusterCredentials.NodeRole))
        {
            BaseAddress = new Uri(parse.GetValue(NodeUrl)!), Timeout = TimeSpan.FromMinutes(5),
        };
        HttpResponseMessage response;
        try
        {
            var request = new HttpRequestMessage(method, path);
            if (body is not null)
                request.Content = JsonContent.Create(body, body.GetType(), options: Json);
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException ex) when (ex.InnerException is System.Security.Authentication.AuthenticationException)
        {
            System.Console.Error.WriteLine($"error: no TLS session with {http.BaseAddress}: it is not a node of this cluster's CA, or it refused ours ({ex.InnerException.Message}).");
            return 5;
        }
        catch (HttpRequestException ex)
        {
            System.Console.Error.WriteLine($"error: the node at {http.BaseAddress} does not answer ({ex.Message}). Is `ssm node` running (peer URL https://ADDRESS:8444)?");
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
            return (int)response.StatusCode switch { 400 => 2, 401 or 403 => 5, 409 => 3, _ => 1 };
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
            if (s.TornDown is { } t)
            {
                b.AppendLine();
                b.AppendLine($"  {"Torn down",-14} by ha_teardown on {t.By} at {t.At:u}; {s.Self.Name} kept all data");
                b.AppendLine($"  {"Discarded",-14} {t.Discarded} (it refuses to rejoin)");
                b.AppendLine($"  {"New cluster",-14} start a node with an empty data folder, then here: ha_deploy --peer https://ITS-ADDRESS:8444 --vip VIP");
            }
            if (s.FollowUp is { } next)
            {
                b.AppendLine();
                b.AppendLine($"  {"Host CN",-14} {(next.HostCommonName.Length == 0 ? "(unset)" : next.HostCommonName)}{(next.OldVip is not null && next.HostCommonName == next.OldVip ? " = the old VIP" : "")}"
                             + $"{(next.NamesThisNode ? (next.CertificateSigned ? ", signed by CSC" : ", not signed yet: synchronize") : $"; this node is {next.NodeAddress}")}");
                b.AppendLine($"  {"Next step",-14} {next.Text}");
                if (!next.NamesThisNode)
                    b.AppendLine($"  {"",-14} Dashboard → High Availability → Use {next.NodeAddress} and synchronize");
                foreach (var p in next.Products)
                    b.AppendLine($"  {"Re-register",-14} {p.Udi} ({p.Name}), registered {p.RegisteredAt:u}");
                if (next.ProductsToReRegister > next.Products.Count)
                    b.AppendLine($"  {"",-14} … {next.ProductsToReRegister - next.Products.Count}{(next.MoreProducts ? "+" : "")} more (Product Instances)");
            }
            return b.ToString();
        }
        b.AppendLine($"HA cluster status, seen from {s.Self.Name}");
        b.AppendLine();
        b.AppendLine($"  {"Node",-14} {"Identity",-10} {"Address",-16} {"Role",-9} Detail");
        foreach (var n in new[] { s.Self, s.Peer! }.OrderBy(n => n.Identity == "primary" ? 0 : 1))
            b.AppendLine($"  {n.Name,-14} {n.Identity,-10} {n.Address,-16} {n.Role,-9} {n.Reason}");
        b.AppendLine();
        b.AppendLine($"  {"Heartbeat",-14} {(s.Heartbeat.Connected ? "connected" : "disconnected")}{(s.Heartbeat.AgeMs is { } age ? $" (last seen {age:0} ms ago)" : "")}");
        b.AppendLine($"  {"VIP",-14} {s.Vip.Address} ({s.Vip.Provider}), held by {s.Vip.Holder ?? "nobody"}");
        var replication = s.Replication.From is null ? "none" : $"{s.Replication.From} → {s.Replication.To}";
        var lag = s.Replication.LagBytes is null ? "" : $", lag {s.Replication.LagBytes} bytes / {s.Replication.LagSeconds:0.000} s";
        b.AppendLine($"  {"Replication",-14} {replication}, {s.Replication.Mode.ToString().ToLowerInvariant()}{lag}, timeline {s.Replication.Timeline}");
        b.AppendLine($"  {"Epoch",-14} {s.Epoch}");
        b.AppendLine($"  {"Witness",-14} {(s.Witness.Configured ? (s.Witness.Reachable == true ? "reachable" : "UNREACHABLE") + (s.Witness.LeaseHolder is null ? "" : $", lease held by {s.Witness.LeaseHolder}") : "none (a crashed active is taken over only by ha_takeover)")}");
        if (s.TakeoverNeedsOperator)
            b.AppendLine($"  {"Attention",-14} the active is unreachable and this standby will not take over on its own (no witness, or not in sync): check, then run ha_takeover");
        if (s.TornDown is { } torn)
            b.AppendLine($"  {"Torn down",-14} by ha_teardown on {torn.By} at {torn.At:u}: {torn.Discarded} is discarded and refuses to rejoin");
        b.AppendLine($"  {"Last failover",-14} {(s.LastFailover is { } f ? $"{f.At:u} {f.Cause}: {f.From} → {f.To} in {f.DurationMs:0} ms (epoch {f.Epoch})" : "none")}");
        return b.ToString();
    }
}
