using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Ssm.Tests.Cluster;

/// <summary>
/// compose.yaml starts the cluster of run.sh on a host with a container engine. No engine runs on the
/// development machines, so this checks the file itself: it parses as YAML, names the services of the
/// launcher, starts each node with every flag run.sh passes to `ssm node`, holds the VIP with the `ip`
/// provider, and deploys with the flags of run.sh's `ssm ha_deploy`.
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

    /// <summary>The `--flags` of run.sh's `"$SSM" VERB ...` command (continuation lines joined).</summary>
    private static List<string> RunShFlags(string verb)
    {
        var joined = RunSh.Replace("\\\n", " ");
        var line = joined.Split('\n').SingleOrDefault(l => l.Contains($"\"$SSM\" {verb} "))
            ?? throw new InvalidOperationException($"run.sh has no single `\"$SSM\" {verb}` command");
        var flags = Regex.Matches(line, @"(?<=\s)--[a-z][a-z0-9-]*").Select(m => m.Value).Distinct().ToList();
        flags.ShouldNotBeEmpty($"no flags found in run.sh's {verb} command: {line}");
        return flags;
    }

    private static string RunShVariable(string name) =>
        Regex.Match(RunSh, $@"^{name}=(\S+)$", RegexOptions.Multiline) is { Success: true } m
            ? m.Groups[1].Value
            : throw new InvalidOperationException($"run.sh sets no {name}");

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

    private static List<string> MountTargets(string service) =>
        Strings(Service(service).GetValueOrDefault("volumes"), $"{service}.volumes").Select(v => v.Split(':')[1]).ToList();

    private static string NodeUrl(string service) => $"http://{Address(service)}:{RunShVariable("PORT")}";

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
        Services.Keys.ShouldContain("primary");
        Services.Keys.ShouldContain("secondary");
        Services.Keys.ShouldContain("witness");
        Services.Keys.ShouldContain("deploy");
        (Service("witness")["image"] as string).ShouldStartWith("postgres:");
        Service("primary")["image"].ShouldBe(Service("secondary")["image"]);
    }

    [Theory]
    [InlineData("primary")]
    [InlineData("secondary")]
    public void Node_is_started_with_every_flag_run_sh_passes_to_ssm_node(string service)
    {
        var command = Command(service);
        command[0].ShouldBe("node");
        foreach (var flag in RunShFlags("node"))
            command.ShouldContain(flag, $"{service} misses run.sh's `ssm node {flag}`");
        RunShFlags("node").ShouldContain("--manage-db");

        After(command, "--name").ShouldBe(service);
        After(command, "--listen").ShouldBe(NodeUrl(service));
        After(command, "--pg-port").ShouldBe(RunShVariable("PG_PORT"));
        // Data and key live on volumes: the data survives the container, both nodes share the one key.
        MountTargets(service).ShouldContain(After(command, "--data").ShouldNotBeNull());
        var key = After(command, "--cluster-key-file").ShouldNotBeNull();
        MountTargets(service).ShouldContain(Path.GetDirectoryName(key).ShouldNotBeNull());
        After(Command("primary"), "--cluster-key-file").ShouldBe(After(Command("secondary"), "--cluster-key-file"));
        After(Command("keys"), "--out").ShouldBe(key, "the keys service must write the key the nodes read");
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
    public void Deploy_passes_every_flag_of_run_sh_ha_deploy_with_peer_vip_and_witness()
    {
        var command = Command("deploy");
        command[0].ShouldBe("ha_deploy_once");
        foreach (var flag in RunShFlags("ha_deploy").Concat(["--peer", "--vip", "--witness"]))
            command.ShouldContain(flag, $"deploy misses run.sh's `ssm ha_deploy {flag}`");

        After(command, "--node").ShouldBe(NodeUrl("primary"));
        After(command, "--peer").ShouldBe(NodeUrl("secondary"));
        var witness = After(command, "--witness").ShouldNotBeNull();
        witness.ShouldContain($"Host={Address("witness")};", Case.Sensitive);
        witness.ShouldContain("Password=${SSM_WITNESS_PASSWORD:?", Case.Sensitive);

        // The deploy waits until both nodes answer, as run.sh's wait_up.
        var dependsOn = Map(Service("deploy").GetValueOrDefault("depends_on"), "deploy.depends_on");
        foreach (var node in new[] { "primary", "secondary" })
            Map(dependsOn.GetValueOrDefault(node), $"deploy.depends_on.{node}")["condition"].ShouldBe("service_healthy");
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

        // The VIP's HTTP port and its HTTPS port (products, API), each relayed to the VIP on the cluster network.
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
        foreach (var service in new[] { "keys", "primary", "secondary", "deploy" })
            entrypoint.ShouldContain($"\n  {Command(service)[0]})", customMessage: $"the entrypoint has no branch for {service}'s `{Command(service)[0]}`");
        entrypoint.ShouldContain("exec \"$SSM\" ha_deploy \"$@\"");
        entrypoint.ShouldContain("exec \"$SSM\" \"$@\"");
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
