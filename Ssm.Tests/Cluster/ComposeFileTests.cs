using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Ssm.Infrastructure.Ha;
using YamlDotNet.Serialization;

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
    private static readonly Lazy<object?> ComposeDocument = new(() => ParseYaml(File.ReadAllText(Path.Combine(Root, "compose.yaml"))));

    private static string RunSh => RunShText.Value;

    /// <summary>compose.yaml as mappings, lists and strings (compose's scalar types do not matter here).</summary>
    private static object? ParseYaml(string text) => Plain(new DeserializerBuilder().Build().Deserialize<object?>(text));

    private static object? Plain(object? node) => node switch
    {
        IDictionary<object, object?> map => map.ToDictionary(p => (string)p.Key, p => Plain(p.Value)),
        IList<object?> list => list.Select(Plain).ToList(),
        _ => node,
    };
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

    /// <summary>
    /// The service's fixed address: SSM_ADDRESS (address/prefix), which its entrypoint adds to eth0 under any compose
    /// program (decision 0027: Debian's podman-compose cannot read ipv4_address).
    /// </summary>
    private static IPAddress Address(string service) =>
        IPAddress.Parse((EnvironmentOf(service).GetValueOrDefault("SSM_ADDRESS")
            ?? throw new ShouldAssertException($"{service} should have a fixed address in SSM_ADDRESS")).Split('/')[0]);

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
        Compose.Keys.ShouldBe(["name", "services", "networks", "volumes"], ignoreOrder: true);
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

    /// <summary>
    /// Debian's podman-compose cannot read ipv4_address (decision 0027): each service with a fixed address names it in
    /// SSM_ADDRESS, in the subnet and outside the engine's ip_range, with NET_ADMIN to add it, and its entrypoint runs
    /// claim-address.sh first.
    /// </summary>
    [Theory]
    [InlineData("primary")]
    [InlineData("secondary")]
    [InlineData("witness")]
    [InlineData("csc")]
    [InlineData("deploy")]
    [InlineData("vip")]
    public void Service_with_a_fixed_address_claims_it_where_the_compose_program_does_not(string service)
    {
        var claimed = EnvironmentOf(service).GetValueOrDefault("SSM_ADDRESS").ShouldNotBeNull($"{service} has no SSM_ADDRESS");
        claimed.ShouldBe($"{Address(service)}/{Subnet.PrefixLength}", "the address with the subnet's prefix");
        Subnet.Contains(Address(service)).ShouldBeTrue($"{service}'s address is outside the subnet");
        IPNetwork.Parse(Ipam().GetValueOrDefault("ip_range") as string ?? "").Contains(Address(service))
            .ShouldBeFalse($"{service}'s address may be handed to another container");
        // The networks as a plain list: podman-compose 1.0.3 fails on the mapping form (networks: {cluster: {...}}).
        Strings(Service(service).GetValueOrDefault("networks"), $"{service}.networks").ShouldBe(["cluster"]);
        // NET_RAW for arping's gratuitous ARP: podman's default capabilities lack it, and arping then fails silently.
        Strings(Service(service).GetValueOrDefault("cap_add"), $"{service}.cap_add").ShouldBe(["NET_ADMIN", "NET_RAW"], ignoreOrder: true);
        Service(service)["pull_policy"].ShouldBe("never", "the images are built locally, never pulled");
        var runsClaim = Service(service).ContainsKey("entrypoint")
            ? Strings(Service(service)["entrypoint"], $"{service}.entrypoint")[0] == "/app/claim-address.sh"
            : service == "csc"
                ? File.ReadAllText(Path.Combine(Root, "tools", "Ssm.CscEmulator", "Dockerfile")).Contains("""ENTRYPOINT ["/app/claim-address.sh", "/app/csc-emulator"]""")
                : File.ReadAllText(Path.Combine(Root, "docker", "node-entrypoint.sh")).Contains("\n\"$SELF/claim-address.sh\"\n");
        runsClaim.ShouldBeTrue($"{service}'s entrypoint should run claim-address.sh first");
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

        // The VIP's HTTP port (health, redirects to HTTPS), its HTTPS port (dashboard, products, API) and its product port
        // (products only, 443), each relayed to the VIP on the cluster network. The peer port is not published.
        var ports = new[] { RunShVariable("PORT"), RunShVariable("HTTPS_PORT"), RunShVariable("PRODUCT_PORT") };
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
        foreach (var package in new[] { "iproute2", "iputils-arping" })
            dockerfile.ShouldMatch($@"(?m)^\s+{package}( |$)");
        dockerfile.ShouldContain("""ENTRYPOINT ["/app/node-entrypoint.sh"]""");
        // PostgreSQL comes from the image below, Debian's package on the debootstrap base (decision 0026): no registry.
        dockerfile.ShouldMatch(@"(?m)^FROM localhost/ssm-postgres:15$");
        var postgres = File.ReadAllText(Path.Combine(Root, "docker", "postgres", "Dockerfile"));
        postgres.ShouldMatch(@"(?m)^FROM localhost/ssm-debian:bookworm$");
        postgres.ShouldMatch(@"apt-get install [^\n]*postgresql-15");
        foreach (var service in new[] { "primary", "secondary", "witness", "keys", "deploy", "vip" })
            Service(service)["image"].ShouldBe("localhost/ssm-node:latest", $"{service} should run the node image built by docker/build-images.sh");

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
}
