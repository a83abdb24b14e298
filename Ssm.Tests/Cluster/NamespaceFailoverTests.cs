using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using Ssm.Application.Ha;
using Ssm.Domain.Nodes;
using Ssm.Infrastructure.Ha;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// Two nodes, a witness and a client on separate hosts (network namespaces), the VIP moved by the `ip`
/// provider with gratuitous ARP. The active is cut off the network: nobody is refused, only timeouts
/// reveal it. At no sampled moment may both databases accept writes, and every acknowledged write survives.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class NamespaceFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Port = 8080;
    private const int HttpsPort = 8443;
    private const int PgPort = 15432;
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"ssm-netns-{Guid.NewGuid():N}"[..28]);
    private readonly Dictionary<string, Process> _processes = [];
    private readonly Dictionary<string, StringBuilder> _logs = [];
    private NetworkLab? _lab;
    private const int PeerPort = 8444;
    private string Keys => Path.Combine(_root, "keys");
    private string ConsoleTls => Path.Combine(_root, "console");

    private static readonly Dictionary<string, int> Hosts = new() { ["a"] = 11, ["b"] = 9, ["w"] = 13, ["c"] = 50 };

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    private string Url(string host) => $"http://{_lab!.Address(Hosts[host])}:{Port}";
    private string PeerUrl(string host) => $"https://{_lab!.Address(Hosts[host])}:{PeerPort}";
    private string Vip => _lab!.Address(14);
    private string Data(string node) => Path.Combine(_root, node);

    [Fact]
    public async Task Cutting_the_active_off_the_network_moves_the_VIP_with_one_writer_and_no_lost_write()
    {
        if (await NetworkLab.WhyNotAsync() is { } reason)
        {
            output.WriteLine($"skipped: {reason}");
            Assert.Skip(reason);
        }
        await DeployAsync();
        var (acknowledged, _, stopWriter, writerLog) = await StartWriterAsync(timeoutSeconds: 0.5);
        using var sampling = new CancellationTokenSource();
        var sampler = SampleWritersAsync(sampling.Token);

        // Cut the active off: its link goes down, nothing refuses anything.
        await _lab!.ExecAsync("a", "ip", "link", "set", "eth0", "down");
        // Counted from when the link is down: nothing the old active answers can arrive after that.
        var cut = DateTimeOffset.UtcNow;
        var promoted = await WaitStatusAsync("b", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary" && s.LastFailover is not null, TimeSpan.FromSeconds(20));
        promoted.LastFailover!.Cause.ShouldContain("crash failover");
        await WaitForAsync(() => Lines(acknowledged).Any(l => l.At > cut), TimeSpan.FromSeconds(20),
            $"no write was acknowledged after the cut\n--- writer ---\n{writerLog}{Log("secondary")}");
        var firstAfter = Lines(acknowledged).Where(l => l.At > cut).Min(l => l.At);
        output.WriteLine($"silent failure: first acknowledged write through the VIP {(firstAfter - cut).TotalMilliseconds:0} ms after the cut");
        // bench/silent-failure.sh collects this number over several runs.
        if (Environment.GetEnvironmentVariable("SSM_MEASUREMENTS") is { Length: > 0 } measurements)
            await File.AppendAllTextAsync(measurements, $"silent_failure_rto_ms {(firstAfter - cut).TotalMilliseconds:0}\n");

        // The isolated node fenced itself: its database no longer accepts writes.
        (await IsWritableAsync("primary")).ShouldBeFalse(Log("primary"));

        // Heal the network: the old active rejoins as standby of the new one.
        await _lab.ExecAsync("a", "ip", "link", "set", "eth0", "up");
        await WaitStatusAsync("b", s => s.Heartbeat.Connected && s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby,
            TimeSpan.FromSeconds(40));

        await File.WriteAllTextAsync(stopWriter, "");
        await _processes["writer"].WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await sampling.CancelAsync();
        var (samples, twoWriters) = await sampler;
        output.WriteLine($"writer samples: {samples}, with two writable databases: {twoWriters}");
        samples.ShouldBeGreaterThan(50);
        twoWriters.ShouldBe(0);

        var acked = Lines(acknowledged).Select(l => l.Name).ToList();
        var stored = await AccountNamesAsync("secondary");
        acked.Except(stored).ShouldBeEmpty("acknowledged writes were lost");
        output.WriteLine($"acknowledged {acked.Count}, all present on the new active");
    }

    [Fact]
    public async Task A_planned_handover_gives_every_client_its_true_answer()
    {
        if (await NetworkLab.WhyNotAsync() is { } reason)
        {
            output.WriteLine($"skipped: {reason}");
            Assert.Skip(reason);
        }
        await DeployAsync();
        // A generous timeout: a write the client gives up on is one whose answer never came, not a slow one.
        var (acknowledged, failed, stopWriter, writerLog) = await StartWriterAsync(timeoutSeconds: 3);
        using var sampling = new CancellationTokenSource();
        var sampler = SampleWritersAsync(sampling.Token);

        // There and back: each node hands over once while the client writes through the VIP.
        foreach (var (from, to) in new[] { ("a", "b"), ("b", "a") })
        {
            var before = Lines(acknowledged).Count;
            var stop = await _lab!.CurlAsync(from, "POST", $"{PeerUrl(from)}/admin/ha/cluster-stop", "", ConsoleTls, timeoutSeconds: 60);
            stop.Status.ShouldBe(200, stop.Body + Log("primary") + Log("secondary"));
            await WaitForAsync(() => Lines(acknowledged).Count >= before + 20, TimeSpan.FromSeconds(20),
                $"no writes through the VIP after the handover to {to}\n--- writer ---\n{writerLog}");
            var start = await _lab.CurlAsync(from, "POST", $"{PeerUrl(from)}/admin/ha/cluster-start", "", ConsoleTls, timeoutSeconds: 120);
            start.Status.ShouldBe(200, start.Body + Log("primary") + Log("secondary"));
            await WaitStatusAsync(to, s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected && s.Peer!.Role == NodeRole.Standby);
        }

        await File.WriteAllTextAsync(stopWriter, "");
        await _processes["writer"].WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await sampling.CancelAsync();
        var (_, twoWriters) = await sampler;
        twoWriters.ShouldBe(0);
        var stored = await AccountNamesAsync("primary");
        Lines(acknowledged).Select(l => l.Name).Except(stored).ShouldBeEmpty("acknowledged writes were lost");
        // The attacker's view: a write the client was told failed, or never heard back about, must not have happened.
        var unanswered = Lines(failed);
        output.WriteLine($"acknowledged {Lines(acknowledged).Count}; failed or unanswered {unanswered.Count} (refused by a node handing over)");
        unanswered.Select(l => l.Name).Intersect(stored).ShouldBeEmpty($"writes committed although their client got no true answer\n--- writer ---\n{writerLog}");
    }

    /// <summary>Two nodes and a witness on hosts of their own, deployed: primary active and synchronous, holding the VIP.</summary>
    private async Task DeployAsync()
    {
        Directory.CreateDirectory(_root);
        ClusterCredentials.Generate(Keys, rotate: false);
        var credentials = ClusterCredentials.Load(Keys);
        Directory.CreateDirectory(ConsoleTls);
        using (var console = credentials.IssueConsole())
            ClusterCredentials.WriteCertificate(console, Path.Combine(ConsoleTls, "tls.crt"), Path.Combine(ConsoleTls, "tls.key"));
        File.Copy(credentials.AuthoritiesPath, Path.Combine(ConsoleTls, "ca.crt"));
        _lab = await NetworkLab.CreateAsync(Hosts);

        var witness = await StartWitnessAsync();
        StartNode("a", "primary", witness);
        StartNode("b", "secondary", witness);
        await WaitUpAsync("a");
        await WaitUpAsync("b");
        var deploy = await _lab.CurlAsync("a", "POST", $"{PeerUrl("a")}/admin/ha/deploy",
            JsonSerializer.Serialize(new DeployCluster($"{PeerUrl("b")}/", Vip), TestCluster.Json), ConsoleTls, timeoutSeconds: 180);
        deploy.Status.ShouldBe(200, deploy.Body + Log("primary"));
        await WaitStatusAsync("a", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected && s.Vip.Holder == "primary");
        await WaitStatusAsync("b", s => s.Replication.Mode == ReplicationMode.Sync);
    }

    /// <summary>The client on its own host, writing through the VIP; returns once it has 20 acknowledged writes.</summary>
    private async Task<(string Acknowledged, string Failed, string Stop, StringBuilder Log)> StartWriterAsync(double timeoutSeconds)
    {
        var acknowledged = Path.Combine(_root, "acknowledged.txt");
        var failed = Path.Combine(_root, "failed.txt");
        var stopWriter = Path.Combine(_root, "stop");
        var writerScript = Path.Combine(_root, "writer.py");
        await File.WriteAllTextAsync(writerScript, WriterScript);
        // The writer trusts exactly the two nodes' self-signed certificates, read from their HTTPS ports.
        var pins = string.Join(",", [await FingerprintAsync("a"), await FingerprintAsync("b")]);
        var writerLog = new StringBuilder();
        _processes["writer"] = _lab!.Start("c", new Dictionary<string, string>(), writerLog,
            "python3", writerScript, Vip, HttpsPort.ToString(), NodeProcess.AdminPassword, acknowledged, stopWriter, pins,
            timeoutSeconds.ToString(CultureInfo.InvariantCulture), failed);
        try
        {
            await WaitForAsync(() => Lines(acknowledged).Count >= 20, TimeSpan.FromSeconds(20), $"the client never wrote through the VIP (pins {pins})");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\n--- writer ---\n{writerLog}{Log("primary")}", ex);
        }
        return (acknowledged, failed, stopWriter, writerLog);
    }

    private async Task<string> StartWitnessAsync()
    {
        var dir = Path.Combine(_root, "witness");
        Directory.CreateDirectory(dir);
        await Shell.RunAsync("chown", ["postgres", _root, dir]);
        var bin = PostgresServer.FindPostgresBin()!;
        var connection = await WitnessSetup.InitializeAsync(bin, dir, Keys, _lab!.Address(Hosts["w"]), PgPort, CancellationToken.None);
        await _lab.ExecAsync("w", "runuser", "-u", "postgres", "--", Path.Combine(bin, "pg_ctl"), "-D", dir, "-l", Path.Combine(dir, "log"), "-w",
            "-o", $"-k {dir}", "start");
        return connection;
    }

    private async Task<string> FingerprintAsync(string host)
    {
        var output = await _lab!.ExecAsync("c", "sh", "-c",
            $"openssl s_client -connect {_lab.Address(Hosts[host])}:{HttpsPort} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256");
        return output.Trim().Split('=').Last().Replace(":", "").ToLowerInvariant();
    }

    private void StartNode(string host, string name, string witness)
    {
        var log = new StringBuilder();
        _logs[name] = log;
        _processes[name] = _lab!.Start(host, new Dictionary<string, string> { ["SSM_ADMIN_PASSWORD"] = NodeProcess.AdminPassword }, log,
            "dotnet", NodeProcess.WebAssemblyPath(), "node", "--name", name, "--listen", Url(host), "--data", Data(name), "--manage-db",
            "--pg-port", PgPort.ToString(), "--cluster-keys", Keys, "--peer-port", PeerPort.ToString(), "--witness", witness,
            "--vip-provider", "ip", "--vip-interface", "eth0", "--heartbeat-ms", "200", "--failover-timeout-ms", "1000",
            "--https-port", HttpsPort.ToString());
    }

    private string Log(string name) { lock (_logs[name]) return "\n--- " + name + " ---\n" + _logs[name]; }

    private async Task WaitUpAsync(string host) =>
        await WaitForAsync(async () => (await _lab!.CurlAsync(host, "GET", $"{Url(host)}/health/live")).Status == 200,
            TimeSpan.FromSeconds(90), $"node on {host} did not start");

    private async Task<HaStatus> WaitStatusAsync(string host, Func<HaStatus, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            var (status, body) = await _lab!.CurlAsync(host, "GET", $"{PeerUrl(host)}/admin/ha/status", tls: ConsoleTls);
            last = body;
            if (status == 200 && JsonSerializer.Deserialize<HaStatus>(body, TestCluster.Json) is { } s && condition(s))
                return s;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{host}: expected state not reached; last status {last}{Log("primary")}{Log("secondary")}");
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string failure) =>
        await WaitForAsync(() => Task.FromResult(condition()), timeout, failure);

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException(failure);
    }

    private static List<(string Name, DateTimeOffset At)> Lines(string path)
    {
        if (!File.Exists(path))
            return [];
        return File.ReadAllLines(path).Where(l => l.Contains(' ')).Select(l =>
        {
            var parts = l.Split(' ');
            return (parts[0], DateTimeOffset.FromUnixTimeMilliseconds((long)(double.Parse(parts[1], CultureInfo.InvariantCulture) * 1000)));
        }).ToList();
    }

    private string Socket(string node) => new NpgsqlConnectionStringBuilder
    {
        Host = Path.Combine(Data(node), "pg-run"), Port = PgPort, Username = "postgres", Database = "ssm", Pooling = false, Timeout = 1, CommandTimeout = 1,
    }.ConnectionString;

    private async Task<bool> IsWritableAsync(string node)
    {
        try
        {
            await using var connection = new NpgsqlConnection(Socket(node));
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select not pg_is_in_recovery()", connection);
            return (bool)(await command.ExecuteScalarAsync())!;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    private async Task<(int Samples, int TwoWriters)> SampleWritersAsync(CancellationToken cancellationToken)
    {
        var (samples, both) = (0, 0);
        while (!cancellationToken.IsCancellationRequested)
        {
            var checks = await Task.WhenAll(IsWritableAsync("primary"), IsWritableAsync("secondary"));
            samples++;
            if (checks[0] && checks[1])
                both++;
            try
            {
                await Task.Delay(20, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
        }
        return (samples, both);
    }

    private Task<List<string>> AccountNamesAsync(string node) => NodeDatabase.AccountNamesAsync(Socket(node));

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, process) in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
        foreach (var pidFile in new[] { Path.Combine(Data("primary"), "pg", "postmaster.pid"), Path.Combine(Data("secondary"), "pg", "postmaster.pid"),
                     Path.Combine(_root, "witness", "postmaster.pid") })
            await Shell.KillPostmasterAsync(pidFile);
        if (_lab is not null)
            await _lab.DisposeAsync();
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    /// <summary>A client that writes accounts through the VIP and notes each acknowledged one (also FrozenActiveTests).</summary>
    internal const string WriterScript = """
        import hashlib, http.client, json, os, ssl, sys, time
        vip, port, password, out, stop, pins = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6].split(",")
        timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 0.5
        # Where to note each write that was sent and got an error or no answer (with its time), if given.
        failed = open(sys.argv[8], "a", buffering=1) if len(sys.argv) > 8 else None
        sent = None
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # pinned below instead: the nodes' own self-signed certificates
        conn, cookie, n, last_error = None, None, 0, None
        log = open(out, "a", buffering=1)
        while not os.path.exists(stop):
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(vip, port, timeout=timeout, context=tls)
                    conn.connect()
                    if hashlib.sha256(conn.sock.getpeercert(True)).hexdigest() not in pins:
                        raise Exception("certificate not pinned")
                if cookie is None:
                    conn.request("POST", "/api/session", json.dumps({"userName": "admin", "password": password}), {"Content-Type": "application/json"})
                    r = conn.getresponse(); r.read()
                    if r.status != 200:
                        raise Exception("login %d" % r.status)
                    cookie = r.getheader("Set-Cookie").split(";")[0]
                n += 1
                name = sent = "N%06d" % n
                conn.request("POST", "/api/accounts", json.dumps({"name": name, "description": "", "contactEmail": "ops@example.com"}),
                             {"Content-Type": "application/json", "Cookie": cookie, "X-Requested-With": "writer"})
                r = conn.getresponse(); r.read()
                sent = None
                if r.status == 201:
                    log.write("%s %.6f\n" % (name, time.time()))
                else:
                    if failed:
                        failed.write("%s %.6f\n" % (name, time.time()))
                    if r.status == 401:
                        cookie = None
                    # A node that does not take writes closes the connection: the next request goes through the VIP afresh.
                    if r.getheader("Connection", "").lower() == "close":
                        raise Exception("answered %d and closed" % r.status)
            except Exception as error:
                if sent is not None and failed:
                    failed.write("%s %.6f\n" % (sent, time.time()))
                sent = None
                if repr(error) != last_error:
                    last_error = repr(error)
                    print(last_error, flush=True)
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
                time.sleep(0.02)
            time.sleep(0.01)
        """;
}
