using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Ssm.Infrastructure.Ha;

namespace Ssm.Tests.Cluster;

/// <summary>
/// compose.yaml starts the cluster of run.sh on a host with a container engine. No engine runs on the
/// development machines, so this checks the file itself: it parses as YAML, names the services of the
/// launcher, makes the cluster CA and the witness as run.sh does (`ssm ha_generate_keys`, `ssm ha_witness_init`),
/// starts each node with the flags run.sh passes to `ssm node`, holds the VIP with the `ip` provider, and
/// deploys with the flags of run.sh's `ssm ha_deploy`.
/// </summary>
public sealed class ComposeFileTests
{
    private static readonly string Root = RepositoryRoot();
    private static readonly Lazy<string> RunShText = new(() => File.ReadAllText(Path.Combine(Root, "run.sh")));
    private static readonly Lazy<object?> ComposeDocument = new(() => MiniYaml.Parse(File.ReadAllText(Path.Combine(Root, "compose.yaml"))));

    private static string RunSh => RunShText.Value;
    private static Dictionary<string, object?> Compose => Map(ComposeDocument.Value, "compose.yaml");

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ssm.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"no Ssm.sln above {AppContext.BaseDirectory}");
    }

    // ---- run.sh, read as the launcher is written ----

    /// <summary>The line of run.sh's `"$SSM" VERB ...` command (continuation lines joined).</summary>
    private static string RunShCommand(string verb) =>
        RunSh.Replace("\\\n", " ").Split('\n').SingleOrDefault(l => l.Contains($"\"$SSM\" {verb} "))
            ?? throw new InvalidOperationException($"run.sh has no single `\"$SSM\" {verb}` command");

    /// <summary>The `--flags` of run.sh's `"$SSM" VERB ...` command.</summary>
    private static List<string> RunShFlags(string verb)
    {
        var line = RunShCommand(verb);
        var flags = Regex.Matches(line, @"(?<=\s)--[a-z][a-z0-9-]*").Select(m => m.Value).Distinct().ToList();
        flags.ShouldNotBeEmpty($"no flags found in run.sh's {verb} command: {line}");
        return flags;
    }

    private static string RunShVariable(string name) =>
        Regex.Match(RunSh, $@"^{name}=(\S+)$", RegexOptions.Multiline) is { Success: true } m
            ? m.Groups[1].Value
            : throw new InvalidOperationException($"run.sh sets no {name}");

    /// <summary>
    /// The value run.sh's VERB command gives FLAG, unquoted, with run.sh's variables put in as compose has them:
    /// the addresses of run.sh (PRIMARY, SECONDARY, WITNESS) are the services' addresses, the rest run.sh's own values.
    /// </summary>
    private static string RunShValueInCompose(string verb, string flag)
    {
        var line = RunShCommand(verb);
        var value = Regex.Match(line, $@"(?<=\s){Regex.Escape(flag)}\s+(""[^""]*""|\S+)") is { Success: true } m
            ? m.Groups[1].Value.Trim('"')
            : throw new InvalidOperationException($"run.sh's {verb} command gives no {flag}: {line}");
        return Regex.Replace(value, @"\$\{?([A-Z_]+)\}?", v => v.Groups[1].Value switch
        {
            "PRIMARY" => Address("primary").ToString(),
            "SECONDARY" => Address("secondary").ToString(),
            "WITNESS" => Address("witness").ToString(),
            var name => RunShVariable(name),
        });
    }

    // ---- compose.yaml, read as compose reads it ----

    private static Dictionary<string, object?> Map(object? value, string what) =>
        value as Dictionary<string, object?> ?? throw new ShouldAssertException($"{what} should be a mapping, is {value ?? "null"}");

    private static List<string> Strings(object? value, string what) =>
        (value as List<object?> ?? throw new ShouldAssertException($"{what} should be a list, is {value ?? "null"}"))
        .Select(v => v as string ?? throw new ShouldAssertException($"{what} should hold strings only")).ToList();

    private static Dictionary<string, object?> Services => Map(Compose.GetValueOrDefault("services"), "services");

    private static Dictionary<string, object?> Service(string name) =>
        Map(Services.GetValueOrDefault(name), $"service {name}");

    /// <summary>The command as a list: each argument stands alone, as run.sh passes them.</summary>
    private static List<string> Command(string service) => Strings(Service(service).GetValueOrDefault("command"), $"{service}.command");

    /// <summary>The value after FLAG in ARGS (null if FLAG is absent or last).</summary>
    private static string? After(List<string> args, string flag) =>
        args.IndexOf(flag) is var i and >= 0 && i + 1 < args.Count ? args[i + 1] : null;

    private static Dictionary<string, string?> EnvironmentOf(string service) =>
        Service(service).GetValueOrDefault("environment") switch
        {
            Dictionary<string, object?> map => map.ToDictionary(p => p.Key, p => p.Value as string),
            List<object?> list => Strings(list, $"{service}.environment").Select(e => e.Split('=', 2))
                .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : null),
            var other => throw new ShouldAssertException($"{service}.environment should be a mapping or a list, is {other ?? "null"}"),
        };

    private static IPAddress Address(string service)
    {
        var networks = Map(Service(service).GetValueOrDefault("networks"), $"{service}.networks");
        var network = Map(networks.GetValueOrDefault("cluster"), $"{service}.networks.cluster");
        return IPAddress.Parse(network.GetValueOrDefault("ipv4_address") as string
            ?? throw new ShouldAssertException($"{service} should have a fixed ipv4_address"));
    }

    private static Dictionary<string, object?> Ipam()
    {
        var network = Map(Map(Compose.GetValueOrDefault("networks"), "networks").GetValueOrDefault("cluster"), "networks.cluster");
        var config = network.GetValueOrDefault("ipam") is Dictionary<string, object?> ipam ? ipam.GetValueOrDefault("config") as List<object?> : null;
        config.ShouldNotBeNull("networks.cluster.ipam.config should give the subnet");
        config.Count.ShouldBe(1);
        return Map(config[0], "networks.cluster.ipam.config[0]");
    }

    private static IPNetwork Subnet => IPNetwork.Parse(Ipam().GetValueOrDefault("subnet") as string ?? "");

    /// <summary>The `--flags` of a command, in order.</summary>
    private static List<string> Flags(List<string> command) => command.Where(a => a.StartsWith("--")).ToList();

    private sealed record Mount(string Volume, string Target, bool ReadOnly);

    private static List<Mount> Mounts(string service) =>
        Strings(Service(service).GetValueOrDefault("volumes"), $"{service}.volumes").Select(v => v.Split(':'))
            .Select(p => new Mount(p[0], p[1], p.Length > 2 && p[2].Split(',').Contains("ro"))).ToList();

    private static List<string> MountTargets(string service) => Mounts(service).Select(m => m.Target).ToList();

    /// <summary>The volume mount of SERVICE that holds PATH (the deepest target that is PATH or a folder above it).</summary>
    private static Mount MountOf(string service, string path) =>
        Mounts(service).Where(m => path == m.Target || path.StartsWith(m.Target.TrimEnd('/') + "/"))
            .MaxBy(m => m.Target.Length) ?? throw new ShouldAssertException($"{service} mounts no volume that holds {path}");

    private static void ShouldWaitFor(string service, string dependency, string condition) =>
        Map(Map(Service(service).GetValueOrDefault("depends_on"), $"{service}.depends_on").GetValueOrDefault(dependency),
            $"{service}.depends_on.{dependency}")["condition"].ShouldBe(condition, $"{service} should wait for {dependency}");

    private static string NodeUrl(string service) => $"http://{Address(service)}:{RunShVariable("PORT")}";

    /// <summary>A node's peer and console API: mutual TLS on run.sh's PEER_PORT.</summary>
    private static string PeerUrl(string service) => $"https://{Address(service)}:{RunShVariable("PEER_PORT")}";

    /// <summary>The cluster keys folder, as the primary reads it.</summary>
    private static string ClusterKeys => After(Command("primary"), "--cluster-keys").ShouldNotBeNull("primary should pass --cluster-keys");

    // ---- the tests ----

    [Fact]
    public void Compose_file_parses_as_yaml_into_services_networks_and_volumes()
    {
        Compose.Keys.ShouldBe(["services", "networks", "volumes"], ignoreOrder: true);
        Services.Count.ShouldBeGreaterThan(0);
        foreach (var (name, service) in Services)
            Map(service, $"service {name}").ShouldContainKey("image");
        // Every named volume a service mounts is declared.
        var declared = Map(Compose["volumes"], "volumes").Keys;
        foreach (var name in Services.Keys)
            if (Service(name).ContainsKey("volumes"))
                foreach (var volume in Strings(Service(name)["volumes"], $"{name}.volumes"))
                    declared.ShouldContain(volume.Split(':')[0], $"{name} mounts an undeclared volume");
    }

    [Fact]
    public void Names_the_services_of_the_launcher()
    {
        foreach (var name in new[] { "keys", "witness", "primary", "secondary", "deploy" })
            Services.Keys.ShouldContain(name);
        // The witness is made by ha_witness_init, which the node image has (with PostgreSQL): no postgres image.
        foreach (var name in new[] { "keys", "witness", "secondary", "deploy" })
            Service(name)["image"].ShouldBe(Service("primary")["image"], $"{name} should run the node image");
    }

    [Theory]
    [InlineData("primary")]
    [InlineData("secondary")]
    public void Node_is_started_with_the_flags_run_sh_passes_to_ssm_node(string service)
    {
        var command = Command(service);
        command[0].ShouldBe("node");
        // The same flags, no more: a flag the node no longer knows (--cluster-key-file) stops it at start.
        Flags(command).ShouldBe(RunShFlags("node"), ignoreOrder: true, $"{service}'s flags should be run.sh's `ssm node` flags");
        foreach (var flag in new[] { "--manage-db", "--cluster-keys", "--peer-port", "--witness" })
            RunShFlags("node").ShouldContain(flag);

        After(command, "--name").ShouldBe(service);
        After(command, "--listen").ShouldBe(NodeUrl(service));
        After(command, "--pg-port").ShouldBe(RunShVariable("PG_PORT"));
        After(command, "--peer-port").ShouldBe(RunShVariable("PEER_PORT"));
        After(command, "--cluster-keys").ShouldBe(ClusterKeys, "both nodes share the one cluster CA");
        // The data lives on a volume of its own: it survives the container.
        var data = MountOf(service, After(command, "--data").ShouldNotBeNull());
        data.ReadOnly.ShouldBeFalse();
        data.Volume.ShouldBe(service);
    }

    [Theory]
    [InlineData("primary")]
    [InlineData("secondary")]
    public void Node_names_the_witness_service_as_ha_witness_init_prints_it_without_a_password(string service)
    {
        var witness = After(Command(service), "--witness").ShouldNotBeNull();
        var init = Command("witness");
        var address = After(init, "--address").ShouldNotBeNull();
        address.ShouldBe(Address("witness").ToString(), "the witness listens on its service's address");
        witness.ShouldBe(WitnessSetup.ConnectionString(address, int.Parse(After(init, "--port").ShouldNotBeNull())),
            "the nodes' --witness is the connection string ha_witness_init prints");
        witness.ShouldNotContain("Password", Case.Insensitive, "the node logs in to the witness with its cluster certificate");
        ShouldWaitFor(service, "witness", "service_healthy");
        ShouldWaitFor(service, "keys", "service_completed_successfully");
    }

    [Fact]
    public void Keys_service_makes_the_cluster_ca_folder_that_the_nodes_witness_and_deploy_read()
    {
        var command = Command("keys");
        command[0].ShouldBe("ha_generate_keys_once");
        Flags(command).ShouldBe(RunShFlags("ha_generate_keys"), ignoreOrder: true, "keys' flags should be run.sh's `ssm ha_generate_keys` flags");
        After(command, "--out").ShouldBe(ClusterKeys, "the keys service must write the folder the nodes read");
        After(Command("secondary"), "--cluster-keys").ShouldBe(ClusterKeys);
        After(Command("witness"), "--keys").ShouldBe(ClusterKeys, "the witness's certificate comes from the cluster CA");
        EnvironmentOf("deploy").GetValueOrDefault("SSM_CLUSTER_KEYS").ShouldBe(ClusterKeys, "the console verbs call the nodes with the cluster CA");

        // One volume: written by keys, read (only) by the others, at the same place.
        var written = MountOf("keys", ClusterKeys);
        written.ReadOnly.ShouldBeFalse();
        foreach (var reader in new[] { "primary", "secondary", "witness", "deploy" })
        {
            var read = MountOf(reader, ClusterKeys);
            read.ShouldBe(written with { ReadOnly = true }, $"{reader} should read the keys service's volume, read-only");
        }
    }

    [Fact]
    public void Witness_is_prepared_by_ha_witness_init_as_run_sh_does_and_checked_with_pg_isready()
    {
        var command = Command("witness");
        command[0].ShouldBe("witness");
        Flags(command).ShouldBe(RunShFlags("ha_witness_init"), ignoreOrder: true, "witness' flags should be run.sh's `ssm ha_witness_init` flags");
        After(command, "--address").ShouldBe(Address("witness").ToString());
        var port = After(command, "--port").ShouldNotBeNull();

        // Its database lives on a volume of its own; ha_witness_init runs again at every start.
        var data = MountOf("witness", After(command, "--data").ShouldNotBeNull());
        data.ReadOnly.ShouldBeFalse();
        data.Volume.ShouldBe("witness");
        ShouldWaitFor("witness", "keys", "service_completed_successfully");

        // No password anywhere: the nodes log in by certificate.
        if (Service("witness").ContainsKey("environment"))
            EnvironmentOf("witness").Keys.ShouldNotContain(k => k.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase));

        var health = Strings(Map(Service("witness").GetValueOrDefault("healthcheck"), "witness.healthcheck").GetValueOrDefault("test"), "witness.healthcheck.test");
        // Asked on its socket, which the entrypoint puts in the data folder (-k), on the witness's port.
        health.ShouldContain("pg_isready");
        After(health, "-h").ShouldBe(After(command, "--data"), "the witness's socket is in its data folder");
        After(health, "-p").ShouldBe(port);
        Service("witness").ContainsKey("ports").ShouldBeFalse("the witness is for the nodes only");
    }

    [Theory]
    [InlineData("primary")]
    [InlineData("secondary")]
    public void Node_holds_the_vip_with_the_ip_provider_and_net_admin(string service)
    {
        var environment = EnvironmentOf(service);
        environment.GetValueOrDefault("Cluster__VipProvider").ShouldBe("ip");
        environment.GetValueOrDefault("Cluster__VipInterface").ShouldBe("eth0");
        Strings(Service(service).GetValueOrDefault("cap_add"), $"{service}.cap_add").ShouldContain("NET_ADMIN");
        // The first admin's password comes from the operator's environment, never from the file.
        environment.GetValueOrDefault("SSM_ADMIN_PASSWORD").ShouldStartWith("${SSM_ADMIN_PASSWORD:?");
        Subnet.Contains(Address(service)).ShouldBeTrue($"{service}'s address is outside the subnet");
    }

    [Fact]
    public void Deploy_passes_the_flags_of_run_sh_ha_deploy_with_the_peer_urls_and_vip()
    {
        var command = Command("deploy");
        command[0].ShouldBe("ha_deploy_once");
        // The same flags, no more: ha_deploy takes no --witness now (each node has its own).
        Flags(command).ShouldBe(RunShFlags("ha_deploy"), ignoreOrder: true, "deploy's flags should be run.sh's `ssm ha_deploy` flags");
        foreach (var flag in new[] { "--node", "--peer", "--vip" })
            command.ShouldContain(flag);

        // The peer URLs (mutual TLS on the peer port), written as run.sh writes them.
        After(command, "--node").ShouldBe(PeerUrl("primary"));
        After(command, "--peer").ShouldBe(PeerUrl("secondary"));
        After(command, "--node").ShouldBe(RunShValueInCompose("ha_deploy", "--node"));
        After(command, "--peer").ShouldBe(RunShValueInCompose("ha_deploy", "--peer"));

        // The deploy waits until both nodes answer, as run.sh's wait_up.
        foreach (var node in new[] { "primary", "secondary" })
            ShouldWaitFor("deploy", node, "service_healthy");
    }

    [Fact]
    public void No_witness_password_or_cluster_key_file_is_left_and_the_header_calls_the_peer_url()
    {
        var text = File.ReadAllText(Path.Combine(Root, "compose.yaml"));
        foreach (var gone in new[] { "SSM_WITNESS_PASSWORD", "POSTGRES_PASSWORD", "Password=", "--cluster-key-file", "--key ", "SSM_CLUSTER_KEY_FILE", "cluster.key" })
            text.ShouldNotContain(gone, Case.Sensitive, $"compose.yaml (its header too) still names {gone}");
        // The header's example console call, as run.sh prints it: the node's peer URL, with the cluster keys.
        text.ShouldContain($"ssm ha_status --node {PeerUrl("primary")} --keys {ClusterKeys}");
    }

    [Fact]
    public void Vip_is_a_free_address_of_the_fixed_subnet_published_on_the_host_loopback()
    {
        var vip = IPAddress.Parse(After(Command("deploy"), "--vip").ShouldNotBeNull());
        Subnet.Contains(vip).ShouldBeTrue("the VIP must be on the nodes' network");
        var fixedAddresses = new[] { "primary", "secondary", "witness" }.Select(Address).ToList();
        fixedAddresses.Distinct().Count().ShouldBe(3);
        fixedAddresses.ShouldNotContain(vip);
        // The engine hands out automatic addresses from ip_range only: never the VIP or a node's address.
        var automatic = IPNetwork.Parse(Ipam().GetValueOrDefault("ip_range") as string ?? "");
        foreach (var address in fixedAddresses.Append(vip))
            automatic.Contains(address).ShouldBeFalse($"{address} may be handed to another container");

        // The VIP's HTTP port (health, redirects to HTTPS) and its HTTPS port (dashboard, products, API), each relayed
        // to the VIP on the cluster network. The peer port is not published.
        var ports = new[] { RunShVariable("PORT"), RunShVariable("HTTPS_PORT") };
        var publisher = Services.Keys.Where(s => Service(s).ContainsKey("ports")).ShouldHaveSingleItem();
        Strings(Service(publisher)["ports"], $"{publisher}.ports").ShouldBe(ports.Select(port => $"127.0.0.1:{port}:{port}").ToList());
        var relay = string.Join(' ', Strings(Service(publisher)["entrypoint"], $"{publisher}.entrypoint"));
        foreach (var port in ports)
            relay.ShouldContain($"TCP:{vip}:{port}");
    }

    [Fact]
    public void Image_has_postgresql_and_the_ip_tools_and_its_entrypoint_knows_the_words_compose_uses()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "Ssm.Web", "Dockerfile"));
        foreach (var package in new[] { "postgresql", "iproute2", "iputils-arping" })
            dockerfile.ShouldMatch($@"(?m)^\s+{package}( |$)");
        dockerfile.ShouldContain("""ENTRYPOINT ["/app/node-entrypoint.sh"]""");

        var entrypoint = File.ReadAllText(Path.Combine(Root, "docker", "node-entrypoint.sh"));
        foreach (var service in new[] { "keys", "witness", "primary", "secondary", "deploy" })
            entrypoint.ShouldContain($"\n  {Command(service)[0]})", customMessage: $"the entrypoint has no branch for {service}'s `{Command(service)[0]}`");
        entrypoint.ShouldContain("exec \"$SSM\" ha_deploy \"$@\"");
        entrypoint.ShouldContain("exec \"$SSM\" \"$@\"");
        // As run.sh: an existing cluster CA is kept (its ca.key, not just the folder).
        entrypoint.ShouldContain("[ -f \"$out/ca.key\" ]");
        // The witness: prepared by ha_witness_init, then PostgreSQL on its folder in the foreground, never as root.
        entrypoint.ShouldContain("\"$SSM\" ha_witness_init \"$@\"");
        entrypoint.ShouldContain("exec setpriv --reuid=postgres --regid=postgres --init-groups -- \"$bin/postgres\" -D \"$data\" -k \"$data\"");
    }

    // ---- the parser is honest about its subset ----

    [Fact]
    public void Parser_reads_mappings_lists_quoted_and_flow_scalars_and_skips_comments()
    {
        var doc = MiniYaml.Parse("""
            # a comment
            a: plain value # trailing comment
            b:
              c: "double \"quoted\" # not a comment"
              d: 'single ''quoted'''
              e: [x, "y, z",
                'w']
            f:
              - one
              - k: v
                l: [ ]
            g:
            - same-indent item
            h:

            """).ShouldBeOfType<Dictionary<string, object?>>();
        doc["a"].ShouldBe("plain value");
        var b = doc["b"].ShouldBeOfType<Dictionary<string, object?>>();
        b["c"].ShouldBe("double \"quoted\" # not a comment");
        b["d"].ShouldBe("single 'quoted'");
        b["e"].ShouldBeOfType<List<object?>>().ShouldBe(["x", "y, z", "w"]);
        var f = doc["f"].ShouldBeOfType<List<object?>>();
        f[0].ShouldBe("one");
        var item = f[1].ShouldBeOfType<Dictionary<string, object?>>();
        item["k"].ShouldBe("v");
        item["l"].ShouldBeOfType<List<object?>>().ShouldBeEmpty();
        doc["g"].ShouldBeOfType<List<object?>>().ShouldBe(["same-indent item"]);
        doc["h"].ShouldBeNull();
    }

    [Theory]
    [InlineData("a: 1\na: 2", "duplicate")]
    [InlineData("a:\n\tb: 1", "tab")]
    [InlineData("a: &x 1", "anchor")]
    [InlineData("a: *x", "alias")]
    [InlineData("a: |\n  text", "block scalar")]
    [InlineData("a: {b: 1}", "flow mapping")]
    [InlineData("a: [b, c", "unclosed")]
    [InlineData("a: \"open", "unclosed")]
    [InlineData("a:\n    b: 1\n  c: 2", "indentation")]
    [InlineData("a: b: c", "mapping")]
    [InlineData("just text", "key")]
    [InlineData("a: 1\n  b: 2", "indentation")]
    public void Parser_refuses_what_it_does_not_read(string yaml, string reason)
    {
        Should.Throw<FormatException>(() => MiniYaml.Parse(yaml)).Message.ShouldContain(reason, Case.Insensitive);
    }
}

/// <summary>
/// A YAML reader for the subset compose.yaml keeps to (its header says so): block mappings and block lists
/// by indentation, plain, 'single' and "double" quoted scalars, flow lists of scalars (which may go on over
/// more indented lines), comments and blank lines. Anything else — tabs, anchors, aliases, tags, block or
/// multi-line scalars, flow mappings, duplicate keys, stray indentation — is a FormatException, not a guess.
/// Scalars stay strings (compose's types do not matter here); an empty value is null.
/// </summary>
internal static class MiniYaml
{
    private sealed record Line(int Number, int Indent, string Content);

    public static object? Parse(string text)
    {
        var lines = Lines(text);
        if (lines.Count == 0)
            return null;
        var reader = new Reader(lines);
        var value = reader.Node(lines[0].Indent);
        reader.ExpectEnd();
        return value;
    }

    private static FormatException Error(int line, string message) => new($"YAML line {line}: {message}");

    /// <summary>Significant lines: indentation counted, comments and trailing blanks cut.</summary>
    private static List<Line> Lines(string text)
    {
        var result = new List<Line>();
        var number = 0;
        foreach (var raw in text.Replace("\r\n", "\n").Split('\n'))
        {
            number++;
            var indent = 0;
            while (indent < raw.Length && raw[indent] == ' ')
                indent++;
            if (indent < raw.Length && raw[indent] == '\t')
                throw Error(number, "tab in indentation");
            var content = StripComment(raw[indent..], number).TrimEnd();
            if (content.Length == 0)
                continue;
            if (content is "---" or "...")
                throw Error(number, "document markers are not read");
            result.Add(new Line(number, indent, content));
        }
        return result;
    }

    private static string StripComment(string content, int line)
    {
        for (var i = 0; i < content.Length; i++)
        {
            var c = content[i];
            var tokenStart = i == 0 || content[i - 1] is ' ' or '[' or ',';
            if (c == '#' && (i == 0 || content[i - 1] == ' '))
                return content[..i];
            if (c is '"' or '\'' && tokenStart)
                i = QuoteEnd(content, i, line);
        }
        return content;
    }

    /// <summary>The index of the quote closing the one at START.</summary>
    private static int QuoteEnd(string s, int start, int line)
    {
        var quote = s[start];
        for (var i = start + 1; i < s.Length; i++)
        {
            if (quote == '"' && s[i] == '\\')
                i++;
            else if (s[i] == quote && quote == '\'' && i + 1 < s.Length && s[i + 1] == '\'')
                i++;
            else if (s[i] == quote)
                return i;
        }
        throw Error(line, "unclosed quoted string (multi-line strings are not read)");
    }

    private static string Unquote(string s, int line)
    {
        var end = QuoteEnd(s, 0, line);
        if (end != s.Length - 1)
            throw Error(line, $"text after a quoted string: {s}");
        var body = s[1..end];
        if (s[0] == '\'')
            return body.Replace("''", "'");
        var result = new StringBuilder();
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] != '\\')
            {
                result.Append(body[i]);
                continue;
            }
            i++;
            result.Append(body[i] switch
            {
                '"' => '"', '\\' => '\\', '/' => '/', 'n' => '\n', 't' => '\t', '0' => '\0',
                var other => throw Error(line, $"escape \\{other} is not read"),
            });
        }
        return result.ToString();
    }

    private static bool IsItem(string content) => content == "-" || content.StartsWith("- ");

    private sealed class Reader(List<Line> lines)
    {
        private int _i;

        private Line Current => lines[_i];
        private bool AtEnd => _i >= lines.Count;

        public void ExpectEnd()
        {
            if (!AtEnd)
                throw Error(Current.Number, "bad indentation");
        }

        /// <summary>The block node whose lines start at column INDENT.</summary>
        public object? Node(int indent) => IsItem(Current.Content) ? List(indent) : Mapping(indent);

        private List<object?> List(int indent)
        {
            var list = new List<object?>();
            while (!AtEnd && Current.Indent == indent && IsItem(Current.Content))
            {
                var line = Current;
                var rest = line.Content.Length == 1 ? "" : line.Content[2..].TrimStart(' ');
                var column = indent + line.Content.Length - rest.Length;
                if (rest.Length == 0)
                {
                    _i++;
                    list.Add(!AtEnd && Current.Indent > indent ? Node(Current.Indent) : null);
                }
                else if (IsItem(rest) || KeyEnd(rest) >= 0)
                {
                    // "- key: value" or "- - item": a block node that starts on the item's line.
                    lines[_i] = line with { Indent = column, Content = rest };
                    list.Add(Node(column));
                }
                else
                {
                    list.Add(Inline(rest, indent));
                }
            }
            if (!AtEnd && Current.Indent > indent)
                throw Error(Current.Number, "bad indentation after a list item");
            return list;
        }

        private Dictionary<string, object?> Mapping(int indent)
        {
            var map = new Dictionary<string, object?>();
            while (!AtEnd && Current.Indent == indent && !IsItem(Current.Content))
            {
                var line = Current;
                var end = KeyEnd(line.Content);
                if (end < 0)
                    throw Error(line.Number, $"expected `key: value`, found {line.Content}");
                var written = line.Content[..end].TrimEnd();
                if (written.Length == 0 || written[0] is '&' or '*' or '!' or '[' or '{' or '?')
                    throw Error(line.Number, $"key `{written}` is not read");
                var key = written[0] is '"' or '\'' ? Unquote(written, line.Number) : written;
                if (map.ContainsKey(key))
                    throw Error(line.Number, $"duplicate key {key}");
                var rest = line.Content[(end + 1)..].Trim();
                if (rest.Length > 0)
                {
                    map[key] = Inline(rest, indent);
                    continue;
                }
                _i++;
                if (!AtEnd && Current.Indent > indent)
                    map[key] = Node(Current.Indent);
                else if (!AtEnd && Current.Indent == indent && IsItem(Current.Content))
                    map[key] = List(indent); // "key:" then "- item" at the key's own indentation
                else
                    map[key] = null;
            }
            if (!AtEnd && Current.Indent > indent)
                throw Error(Current.Number, "bad indentation in a mapping");
            if (!AtEnd && Current.Indent == indent && IsItem(Current.Content))
                throw Error(Current.Number, "a list item among mapping keys");
            return map;
        }

        /// <summary>The index of the colon ending a key on this line, or -1 if the line is no `key: value`.</summary>
        private static int KeyEnd(string content)
        {
            var start = 0;
            if (content[0] is '"' or '\'')
            {
                try
                {
                    start = QuoteEnd(content, 0, 0) + 1;
                }
                catch (FormatException)
                {
                    return -1;
                }
            }
            for (var i = start; i < content.Length; i++)
                if (content[i] == ':' && (i + 1 == content.Length || content[i + 1] == ' '))
                    return i;
            return -1;
        }

        /// <summary>A value written after `key:` or `- ` on the current line (a flow list may go on below).</summary>
        private object? Inline(string text, int indent)
        {
            var line = Current.Number;
            _i++;
            switch (text[0])
            {
                case '&':
                    throw Error(line, "anchors are not read");
                case '*':
                    throw Error(line, "aliases are not read");
                case '!':
                    throw Error(line, "tags are not read");
                case '|' or '>':
                    throw Error(line, "block scalars are not read");
                case '{':
                    throw Error(line, "flow mappings are not read");
                case '"' or '\'':
                    return Unquote(text, line);
                case '[':
                    return FlowList(text, indent, line);
            }
            if (KeyEnd(text) >= 0)
                throw Error(line, $"a mapping inside a plain value is not read: {text}");
            if (!AtEnd && Current.Indent > indent && !IsItem(Current.Content) && KeyEnd(Current.Content) < 0)
                throw Error(Current.Number, "bad indentation: multi-line plain scalars are not read");
            return text;
        }

        private List<object?> FlowList(string text, int indent, int line)
        {
            // Gather the list's text up to its closing bracket, over more indented lines if need be.
            var all = new StringBuilder(text);
            int close;
            while ((close = CloseBracket(all.ToString(), line)) < 0)
            {
                if (AtEnd || Current.Indent <= indent)
                    throw Error(line, "unclosed flow list");
                all.Append(' ').Append(Current.Content);
                _i++;
            }
            var source = all.ToString();
            if (close != source.Length - 1)
                throw Error(line, $"text after a flow list: {source[(close + 1)..]}");
            var items = new List<object?>();
            var body = source[1..close];
            if (string.IsNullOrWhiteSpace(body))
                return items;
            var itemStart = 0;
            for (var i = 0; i <= body.Length; i++)
            {
                if (i < body.Length && body[i] is '"' or '\'' && string.IsNullOrWhiteSpace(body[itemStart..i]))
                {
                    i = QuoteEnd(body, i, line);
                    continue;
                }
                if (i < body.Length && body[i] != ',')
                    continue;
                var item = body[itemStart..i].Trim();
                itemStart = i + 1;
                if (item.Length == 0)
                {
                    // One trailing comma is YAML ("[a, b,]"); any other empty item is not.
                    if (i == body.Length && items.Count > 0)
                        continue;
                    throw Error(line, "empty item in a flow list");
                }
                if (item[0] is '[' or '{' or '&' or '*' or '!')
                    throw Error(line, $"flow list item {item} is not read");
                items.Add(item[0] is '"' or '\'' ? Unquote(item, line) : item);
            }
            return items;
        }

        /// <summary>The index of the bracket closing the flow list that TEXT opens, or -1 if it is not closed yet.</summary>
        private static int CloseBracket(string text, int line)
        {
            for (var i = 1; i < text.Length; i++)
            {
                if (text[i] is '"' or '\'' && text[i - 1] is ' ' or '[' or ',')
                    i = QuoteEnd(text, i, line);
                else if (text[i] is '[' or '{')
                    throw Error(line, "nested flow collections are not read");
                else if (text[i] == ']')
                    return i;
            }
            return -1;
        }
    }
}
