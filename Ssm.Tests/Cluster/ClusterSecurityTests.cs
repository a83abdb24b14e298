using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Npgsql;
using Ssm.Application.Ha;
using Ssm.Domain.Nodes;
using Ssm.Infrastructure.Ha;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// One cluster, deployed, handed over and failed back while a sniffer records the loopback traffic of its addresses;
/// then the attacker's attempts of issue 11 against it (decision 0018, docs/security.md).
/// </summary>
public sealed class SecuredClusterFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = default!;
    public byte[] Capture { get; private set; } = [];
    public string CaptureProblem { get; private set; } = "";
    public List<string> CommandLines { get; } = [];

    public async ValueTask InitializeAsync()
    {
        Cluster = await TestCluster.CreateAsync("ssm_witness_security");
        var pcap = Path.Combine(Path.GetTempPath(), $"ssm-sniff-{Guid.NewGuid():N}.pcap");
        using var sniffer = StartSniffer(pcap, Cluster.Net);
        try
        {
            await Cluster.StartNodeAsync("primary");
            await Cluster.StartNodeAsync("secondary");
            var deploy = await Cluster.DeployAsync();
            deploy.Status.ShouldBe(HttpStatusCode.OK, deploy.Body);
            await Cluster.WaitForAsync("primary", s => s.Self.Role == NodeRole.Active && s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);
            SampleCommandLines();
            // A planned handover, then the failback, as the seed scenario does them.
            await VerbAsync("primary", "cluster-stop");
            await VerbAsync("primary", "cluster-start");
            await Cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);
            SampleCommandLines();
            await VerbAsync("secondary", "cluster-stop");
            await VerbAsync("secondary", "cluster-start");
            await Cluster.WaitForAsync("primary", s => s.Self.Role == NodeRole.Active && s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);
            SampleCommandLines();
        }
        finally
        {
            if (sniffer is not null)
            {
                // SIGINT: tcpdump writes what it buffered and exits.
                Process.Start("kill", ["-INT", sniffer.Id.ToString()])!.WaitForExit();
                await sniffer.WaitForExitAsync();
                if (File.Exists(pcap))
                {
                    Capture = await File.ReadAllBytesAsync(pcap);
                    File.Delete(pcap);
                }
            }
        }
    }

    private async Task VerbAsync(string node, string verb)
    {
        var (status, body) = await Cluster.VerbAsync(node, verb);
        status.ShouldBe(HttpStatusCode.OK, $"{verb} on {node}: {body}\n--- primary ---\n{Cluster.Log("primary")}\n--- secondary ---\n{Cluster.Log("secondary")}");
    }

    private Process? StartSniffer(string pcap, string net)
    {
        try
        {
            var start = new ProcessStartInfo("tcpdump") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var arg in new[] { "-i", "lo", "-U", "-s", "0", "-w", pcap, "net", $"{net}.0/24" })
                start.ArgumentList.Add(arg);
            var process = Process.Start(start)!;
            // tcpdump says "listening on lo" once it captures.
            var line = process.StandardError.ReadLine() ?? "";
            if (!line.Contains("listening"))
                CaptureProblem = $"tcpdump did not start: {line}";
            _ = process.StandardError.ReadToEndAsync();
            return process;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            CaptureProblem = $"tcpdump is missing ({ex.Message}): .ci/run installs it";
            return null;
        }
    }

    /// <summary>Every running process's command line that mentions the cluster's folder (nodes, PostgreSQL, its tools).</summary>
    private void SampleCommandLines()
    {
        foreach (var dir in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var line = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (line.Contains(Cluster.DataOf("primary")[..^"primary".Length]))
                    CommandLines.Add(line);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync() => await Cluster.DisposeAsync();
}

[Collection(ClusterCollection.Name)]
public sealed class ClusterSecurityTests(SecuredClusterFixture fixture) : IClassFixture<SecuredClusterFixture>
{
    private TestCluster Cluster => fixture.Cluster;
    private ClusterCredentials Credentials => ClusterCredentials.Load(Cluster.KeysDirectory);

    private static byte[] PrivateKeyBytes(string pemPath)
    {
        var pem = File.ReadAllText(pemPath);
        var body = string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----")).Select(l => l.Trim()));
        return Convert.FromBase64String(body);
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    [Fact]
    public void A_sniffer_on_loopback_sees_no_key_or_secret_during_deploy_handover_and_failback()
    {
        fixture.CaptureProblem.ShouldBeEmpty();
        var capture = fixture.Capture;
        // The sniffer works: it saw the plain health probes on the HTTP port, and a lot of encrypted traffic besides.
        Contains(capture, "GET /health/live"u8.ToArray()).ShouldBeTrue("the capture must hold the clear-text health probes");
        capture.Length.ShouldBeGreaterThan(100_000);

        // Private keys, raw and as PEM text: the CA's, and each node's.
        var keys = new[] { Path.Combine(Cluster.KeysDirectory, ClusterCredentials.IssuerKeyFile) }
            .Concat(new[] { "primary", "secondary" }.Select(n => Path.Combine(Cluster.DataOf(n), "tls", "node.key")));
        foreach (var key in keys)
        {
            var der = PrivateKeyBytes(key);
            Contains(capture, der[^32..]).ShouldBeFalse($"{key} crossed the wire");
            Contains(capture, Encoding.ASCII.GetBytes(Convert.ToBase64String(der)[^40..])).ShouldBeFalse($"{key} crossed the wire as PEM");
        }
        // No shared secret in a header, no password in a connection string, no admin password.
        Contains(capture, "X-Ssm-Cluster-Key"u8.ToArray()).ShouldBeFalse();
        Contains(capture, "password="u8.ToArray()).ShouldBeFalse();
        Contains(capture, Encoding.UTF8.GetBytes(NodeProcess.AdminPassword)).ShouldBeFalse();
        // The peer, console and PostgreSQL conversations are there, and opaque: their JSON never appears in clear.
        Contains(capture, "\"epoch\""u8.ToArray()).ShouldBeFalse("a peer message crossed in clear");
        Contains(capture, "pg_is_in_recovery"u8.ToArray()).ShouldBeFalse("SQL crossed in clear");
        Contains(capture, "ssm_replicator"u8.ToArray()).ShouldBeFalse("a PostgreSQL start-up crossed in clear");
    }

    [Fact]
    public void No_process_of_the_cluster_has_a_password_on_its_command_line()
    {
        fixture.CommandLines.Count.ShouldBeGreaterThan(3);
        fixture.CommandLines.Any(l => l.Contains("postgres")).ShouldBeTrue();
        foreach (var line in fixture.CommandLines)
            line.ShouldNotContain("password", Case.Insensitive);
    }

    private HttpClient PeerClient(X509Certificate2? certificate) =>
        new(new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                ClientCertificates = certificate is null ? null : [certificate],
                LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
            },
        }) { Timeout = TimeSpan.FromSeconds(10) };

    private Task<HttpResponseMessage> ForgedHeartbeatAsync(HttpClient client) =>
        client.PostAsJsonAsync(new Uri(Cluster.PeerUrlOf("primary"), "/peer/heartbeat"),
            new PeerHello("secondary", NodeRole.Active, 1_000_000, Cluster.SecondaryAddress, Cluster.PgPort, null, "forged"), HttpPeerLink.Json);

    private async Task ShouldStayActiveAsync()
    {
        var status = await Cluster.StatusAsync("primary");
        status.Self.Role.ShouldBe(NodeRole.Active);
        status.Epoch.ShouldBeLessThan(1_000);
    }

    [Fact]
    public async Task A_peer_call_without_a_client_certificate_gets_no_TLS_session()
    {
        using var client = PeerClient(null);
        var error = await Should.ThrowAsync<HttpRequestException>(() => ForgedHeartbeatAsync(client));
        error.ShouldNotBeNull();
        await ShouldStayActiveAsync();
    }

    [Fact]
    public async Task A_heartbeat_with_a_node_certificate_of_another_CA_changes_nothing()
    {
        var elsewhere = Path.Combine(Path.GetTempPath(), $"ssm-other-ca-{Guid.NewGuid():N}");
        try
        {
            ClusterCredentials.Generate(elsewhere, rotate: false);
            using var forged = ClusterCredentials.Load(elsewhere).Issue("secondary", ClusterCredentials.NodeRole,
                [IPAddress.Parse(Cluster.SecondaryAddress)], ["secondary"], TimeSpan.FromHours(1));
            using var client = PeerClient(forged);
            await Should.ThrowAsync<HttpRequestException>(() => ForgedHeartbeatAsync(client));
            await ShouldStayActiveAsync();
        }
        finally
        {
            Directory.Delete(elsewhere, recursive: true);
        }
    }

    [Fact]
    public async Task A_console_certificate_cannot_speak_as_a_node_and_a_node_certificate_cannot_use_the_console()
    {
        using var console = Credentials.IssueConsole();
        using (var asConsole = PeerClient(console))
            (await ForgedHeartbeatAsync(asConsole)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        using var node = Credentials.Issue("intruder", ClusterCredentials.NodeRole, [], [], TimeSpan.FromHours(1));
        using (var asNode = PeerClient(node))
            (await asNode.PostAsync(new Uri(Cluster.PeerUrlOf("primary"), "/admin/ha/cluster-stop"), null)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        await ShouldStayActiveAsync();
        Cluster.Log("primary").ShouldContain("Refused POST /admin/ha/cluster-stop");
    }

    [Theory]
    [InlineData("GET", "/admin/ha/status")]
    [InlineData("POST", "/admin/ha/cluster-stop")]
    [InlineData("POST", "/peer/discard")]
    public async Task The_peer_and_console_API_are_not_served_on_the_HTTP_port(string method, string path)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), new Uri(Cluster.UrlOf("primary"), path))
        {
            Content = JsonContent.Create(new { by = "attacker", epoch = 1_000_000 }),
        });
        ((int)response.StatusCode).ShouldBeOneOf(403, 404, 421);
        await ShouldStayActiveAsync();
    }

    private Task<PostgresProbe.Outcome> ProbeAsync(string user, string database, bool replication, bool tls, X509Certificate2? certificate,
        IPAddress? source = null) =>
        PostgresProbe.TryAsync(IPAddress.Parse(Cluster.PrimaryAddress), Cluster.PgPort, user, database, replication, tls, certificate, source);

    private X509Certificate2 SecondaryCertificate() =>
        X509Certificate2.CreateFromPemFile(Path.Combine(Cluster.DataOf("secondary"), "tls", "node.crt"),
            Path.Combine(Cluster.DataOf("secondary"), "tls", "node.key"));

    [Fact]
    public async Task PostgreSQL_admits_the_peer_by_certificate_and_refuses_every_other_way_in()
    {
        using var peer = SecondaryCertificate();
        // The control: the standby's own certificate, from this host, to what pg_rewind uses. The probe can succeed.
        (await ProbeAsync(PostgresNode.ReplicationUser, "postgres", false, true, peer)).Authenticated.ShouldBeTrue();
        (await ProbeAsync(PostgresNode.ReplicationUser, "postgres", true, true, peer)).Authenticated.ShouldBeTrue();

        // Without TLS; with TLS but no certificate; with a certificate of another CA.
        (await ProbeAsync(PostgresNode.ReplicationUser, "postgres", true, false, null)).Authenticated.ShouldBeFalse();
        (await ProbeAsync(PostgresNode.ReplicationUser, "postgres", true, true, null)).Authenticated.ShouldBeFalse();
        var elsewhere = Path.Combine(Path.GetTempPath(), $"ssm-other-ca-{Guid.NewGuid():N}");
        ClusterCredentials.Generate(elsewhere, rotate: false);
        using (var forged = ClusterCredentials.Load(elsewhere).Issue("secondary", ClusterCredentials.NodeRole, [], [], TimeSpan.FromHours(1)))
            (await ProbeAsync(PostgresNode.ReplicationUser, "postgres", true, true, forged)).Authenticated.ShouldBeFalse();
        Directory.Delete(elsewhere, recursive: true);

        // The replication role asking for the application's database, or the superuser over the network.
        var application = await ProbeAsync(PostgresNode.ReplicationUser, PostgresNode.DatabaseName, false, true, peer);
        application.Authenticated.ShouldBeFalse();
        application.Detail.ShouldContain("pg_hba.conf");
        (await ProbeAsync("postgres", "postgres", false, true, peer)).Authenticated.ShouldBeFalse();

        // A certificate of the cluster, but not the peer's (a console's, another node name).
        using (var console = Credentials.IssueConsole())
            (await ProbeAsync(PostgresNode.ReplicationUser, "postgres", true, true, console)).Authenticated.ShouldBeFalse();

        // The peer's certificate from an address that is not the peer's.
        var stranger = await ProbeAsync(PostgresNode.ReplicationUser, "postgres", true, true, peer, IPAddress.Parse($"{Cluster.Net}.77"));
        stranger.Authenticated.ShouldBeFalse();
        stranger.Detail.ShouldContain("pg_hba.conf");
    }

    [Fact]
    public async Task PostgreSQL_runs_with_TLS_certificate_rules_only_and_a_replication_role_that_is_not_a_superuser()
    {
        foreach (var node in new[] { "primary", "secondary" })
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
            {
                Host = Path.Combine(Cluster.DataOf(node), "pg-run"), Port = Cluster.PgPort, Username = "postgres", Database = "postgres", Pooling = false,
            }.ConnectionString);
            await connection.OpenAsync();
            await using (var ssl = new NpgsqlCommand("show ssl", connection))
                (await ssl.ExecuteScalarAsync()).ShouldBe("on");
            await using (var role = new NpgsqlCommand("select rolsuper, rolreplication, rolpassword is null from pg_authid where rolname = 'ssm_replicator'", connection))
            await using (var reader = await role.ExecuteReaderAsync())
            {
                (await reader.ReadAsync()).ShouldBeTrue();
                reader.GetBoolean(0).ShouldBeFalse("the replication role must not be a superuser");
                reader.GetBoolean(1).ShouldBeTrue();
                reader.GetBoolean(2).ShouldBeTrue("the replication role has no password");
            }
            await using var rules = new NpgsqlCommand("select type, coalesce(address, ''), auth_method, array_to_string(user_name, ','), error from pg_hba_file_rules", connection);
            await using var rows = await rules.ExecuteReaderAsync();
            var count = 0;
            while (await rows.ReadAsync())
            {
                count++;
                var (type, address, method, users) = (rows.GetString(0), rows.GetString(1), rows.GetString(2), rows.GetString(3));
                rows.IsDBNull(4).ShouldBeTrue($"{node}: a pg_hba line with an error");
                method.ShouldNotBe("trust");
                address.ShouldNotBe("0.0.0.0");
                if (type == "local")
                    (method, users).ShouldBe(("peer", "postgres"));
                else
                    (type, method, users).ShouldBe(("hostssl", "cert", PostgresNode.ReplicationUser));
            }
            count.ShouldBeGreaterThan(1, $"{node} has no rule for its peer");
        }
    }

    [Fact]
    public async Task The_witness_speaks_only_TLS_and_admits_only_cluster_certificates()
    {
        var witness = IPAddress.Parse(Cluster.WitnessAddress);
        using var peer = SecondaryCertificate();
        (await PostgresProbe.TryAsync(witness, Cluster.PgPort, WitnessSetup.Role, WitnessSetup.Role, false, true, peer)).Authenticated.ShouldBeTrue();
        (await PostgresProbe.TryAsync(witness, Cluster.PgPort, WitnessSetup.Role, WitnessSetup.Role, false, false, null)).Authenticated.ShouldBeFalse();
        (await PostgresProbe.TryAsync(witness, Cluster.PgPort, WitnessSetup.Role, WitnessSetup.Role, false, true, null)).Authenticated.ShouldBeFalse();
        (await PostgresProbe.TryAsync(witness, Cluster.PgPort, "postgres", "postgres", false, true, peer)).Authenticated.ShouldBeFalse();
        (await Cluster.StatusAsync("primary")).Witness.Reachable.ShouldBe(true);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Keys_state_and_data_folders_are_readable_by_the_service_user_only()
    {
        static UnixFileMode Mode(string path) => File.GetUnixFileMode(path);
        const UnixFileMode others = UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        const UnixFileMode groupRead = UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        Mode(Cluster.KeysDirectory).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var file in Directory.GetFiles(Cluster.KeysDirectory))
            Mode(file).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite, file);
        foreach (var node in new[] { "primary", "secondary" })
        {
            var data = Cluster.DataOf(node);
            (Mode(data) & (others | groupRead)).ShouldBe(UnixFileMode.None, data);
            Mode(Path.Combine(data, "ha-state.json")).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Mode(Path.Combine(data, "tls", "node.key")).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Mode(Path.Combine(data, "pg-tls", "server.key")).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.ReadAllText(Path.Combine(data, "ha-state.json")).ShouldNotContain("Password", Case.Insensitive);
        }
    }
}

[Collection(ClusterCollection.Name)]
public sealed class ClusterStartRefusalTests
{
    [Fact]
    public async Task A_node_that_manages_its_database_refuses_to_start_without_the_cluster_keys()
    {
        var data = Path.Combine(Path.GetTempPath(), $"ssm-no-keys-{Guid.NewGuid():N}");
        try
        {
            foreach (var keys in new[] { null, Path.Combine(data, "missing") })
            {
                var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var arg in new[] { NodeProcess.WebAssemblyPath(), "node", "--name", "lonely", "--listen", $"http://127.0.0.1:{PostgresServer.FreePort()}",
                             "--data", data, "--manage-db", "--pg-port", PostgresServer.FreePort().ToString() })
                    start.ArgumentList.Add(arg);
                if (keys is not null)
                {
                    start.ArgumentList.Add("--cluster-keys");
                    start.ArgumentList.Add(keys);
                }
                using var process = Process.Start(start)!;
                var stderr = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                process.ExitCode.ShouldBe(2);
                (await stderr).ShouldContain("ha_generate_keys");
            }
            Directory.Exists(Path.Combine(data, "pg")).ShouldBeFalse("nothing may be created before the refusal");
        }
        finally
        {
            if (Directory.Exists(data))
                Directory.Delete(data, recursive: true);
        }
    }
}
