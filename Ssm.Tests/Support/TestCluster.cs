using Marten;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Ha;

namespace Ssm.Tests.Support;

/// <summary>
/// Two real `ssm node` processes, each managing its own PostgreSQL, plus a witness database, on loopback
/// addresses of their own (127.x.y.11 primary, .9 secondary, .14 VIP, as in the seed's demonstration).
/// Every process it starts is stopped by its own id on dispose, also when a test fails.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private readonly Dictionary<string, Process> _processes = [];
    private readonly Dictionary<string, StringBuilder> _logs = [];
    private readonly string _root;
    private readonly string _keys;

    public string Net { get; }
    public int HttpPort { get; }
    public int PgPort { get; }
    public string WitnessConnection { get; private set; } = "";
    /// <summary>The nodes start with --witness (the cluster's own witness PostgreSQL, TLS with cluster certificates).</summary>
    public bool UseWitness { get; init; } = true;
    public int PeerPort { get; }
    public string KeysDirectory => _keys;
    public string WitnessAddress => $"{Net}.13";
    public string PrimaryAddress => $"{Net}.11";
    public string SecondaryAddress => $"{Net}.9";
    public string Vip => $"{Net}.14";
    /// <summary>The dashboard and the APIs through the VIP: HTTPS only (the HTTP port serves health and cluster calls).</summary>
    public Uri VipUrl => new($"https://{Vip}:{HttpsPort}");
    /// <summary>The nodes' second HTTPS port for products only (--product-port); 0: none, products use <see cref="HttpsPort"/>.</summary>
    public int ProductPort { get; set; }

    /// <summary>A product's server URL at <paramref name="host"/>: without a port on 443, as devices are configured for SSM On-Prem.</summary>
    public Uri ProductUrlOf(string host, string path = "") => new(ProductPort switch
    {
        0 => $"https://{host}:{HttpsPort}/{path}",
        443 => $"https://{host}/{path}",
        _ => $"https://{host}:{ProductPort}/{path}",
    });

    /// <summary>
    /// 443 where this process can bind it on the cluster's addresses (as root, as CI runs; binding is the test, as
    /// run.sh checks before it serves 443), else a free port, so that products still use a port of their own.
    /// </summary>
    public int ProductPortHere() => new[] { PrimaryAddress, SecondaryAddress, Vip }.All(host => CanBind(host, 443)) ? 443 : FreePort(Net);

    public int HeartbeatMs { get; init; } = 200;
    public int FailoverTimeoutMs { get; init; } = 1000;

    private TestCluster(string net, int httpPort, int pgPort, int peerPort, int httpsPort)
    {
        Net = net;
        HttpPort = httpPort;
        PgPort = pgPort;
        PeerPort = peerPort;
        HttpsPort = httpsPort;
        _root = Path.Combine(Path.GetTempPath(), $"ssm-cluster-{Guid.NewGuid():N}"[..30]);
        Directory.CreateDirectory(_root);
        _keys = Path.Combine(_root, "keys");
        ClusterCredentials.Generate(_keys, rotate: false);
    }

    /// <summary>A cluster of two nodes to start; its witness PostgreSQL (TLS, certificates of the cluster CA) runs already.</summary>
    public static async Task<TestCluster> CreateAsync(string witnessDatabase, bool useWitness = true)
    {
        _ = witnessDatabase;
        var net = $"127.{Random.Shared.Next(20, 250)}.{Random.Shared.Next(1, 250)}";
        var cluster = new TestCluster(net, FreePort(net), FreePort(net), FreePort(net), FreePort(net)) { UseWitness = useWitness };
        if (useWitness)
            await cluster.StartWitnessAsync();
        return cluster;
    }

    private string WitnessData => Path.Combine(_root, "witness");

    /// <summary>After a step of a CA rotation: the witness's certificate and trusted CAs again, and a reload (docs/security.md).</summary>
    public async Task RefreshWitnessAsync()
    {
        var bin = PostgresServer.FindPostgresBin()!;
        await WitnessSetup.InitializeAsync(bin, WitnessData, _keys, WitnessAddress, PgPort, CancellationToken.None);
        await PostgresServer.RunPostgresToolAsync(Path.Combine(bin, "pg_ctl"), ["-D", WitnessData, "reload"]);
    }

    private async Task StartWitnessAsync()
    {
        var bin = PostgresServer.FindPostgresBin() ?? throw new InvalidOperationException("the cluster tests need PostgreSQL installed (initdb, pg_ctl)");
        WitnessConnection = await WitnessSetup.InitializeAsync(bin, WitnessData, _keys, WitnessAddress, PgPort, CancellationToken.None);
        await PostgresServer.RunPostgresToolAsync(Path.Combine(bin, "pg_ctl"),
            ["-D", WitnessData, "-l", Path.Combine(WitnessData, "server.log"), "-w", "-t", "60", "-o", $"-k {WitnessData}", "start"]);
    }

    private static int FreePort(string net)
    {
        while (true)
        {
            var port = PostgresServer.FreePort();
            if (new[] { ".11", ".9", ".14", ".13" }.All(host => CanBind(net + host, port)))
                return port;
        }
    }

    /// <summary>Whether the address and port can be listened on now (nothing else holds them).</summary>
    internal static bool CanBind(string address, int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Parse(address), port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public string AddressOf(string node) => node == "primary" ? PrimaryAddress : SecondaryAddress;
    public Uri UrlOf(string node) => new($"http://{AddressOf(node)}:{HttpPort}");
    /// <summary>The node's peer and console API (mutual TLS).</summary>
    public Uri PeerUrlOf(string node) => new($"https://{AddressOf(node)}:{PeerPort}");
    public Uri HttpsUrlOf(string node) => new($"https://{AddressOf(node)}:{HttpsPort}");

    /// <summary>What the test clients trust on the HTTPS port: each node's certificate as read at its start, and the CSC root.</summary>
    public PinnedCertificates Certificates { get; } = new();
    public string DataOf(string node) => Path.Combine(_root, node);
    public string Log(string node) { lock (_logs) return _logs.TryGetValue(node, out var b) ? b.ToString() : ""; }

    /// <summary>The CSC emulator the nodes synchronize with, when the test started one.</summary>
    public CscEmulatorProcess? Csc { get; private set; }

    /// <summary>The nodes' HTTPS port (self-signed until CSC signs their certificate).</summary>
    public int HttpsPort { get; }

    public async Task StartCscAsync(string approval = "manual")
    {
        Csc = await CscEmulatorProcess.StartAsync(Path.Combine(_root, "csc"), approval, "1.00:00:00");
        Certificates.TrustRoot(Csc.Root);
    }

    public async Task StartNodeAsync(string node)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     NodeProcess.WebAssemblyPath(), "node", "--name", node, "--listen", UrlOf(node).ToString().TrimEnd('/'),
                     "--data", DataOf(node), "--manage-db", "--pg-port", PgPort.ToString(), "--cluster-keys", _keys, "--peer-port", PeerPort.ToString(),
                     "--heartbeat-ms", HeartbeatMs.ToString(), "--failover-timeout-ms", FailoverTimeoutMs.ToString(),
                     "--https-port", HttpsPort.ToString(),
                 })
            start.ArgumentList.Add(arg);
        if (ProductPort > 0)
        {
            start.ArgumentList.Add("--product-port");
            start.ArgumentList.Add(ProductPort.ToString());
        }
        if (UseWitness)
        {
            start.ArgumentList.Add("--witness");
            start.ArgumentList.Add(WitnessConnection);
        }
        if (Csc is not null)
        {
            foreach (var arg in new[] { "--csc", Csc.BaseAddress.ToString(), "--csc-root", Csc.RootPath })
                start.ArgumentList.Add(arg);
            // Each node asks every second whether a sync is due or was left unfinished by the other.
            start.Environment["Csc__ScheduleCheckSeconds"] = "1";
        }
        start.Environment["SSM_ADMIN_PASSWORD"] = NodeProcess.AdminPassword;
        var process = Process.Start(start)!;
        lock (_logs)
            _logs[node] = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_logs) _logs[node].AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_logs) _logs[node].AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes[node] = process;

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{node} exited with {process.ExitCode}:\n{Log(node)}");
            try
            {
                if ((await http.GetAsync(new Uri(UrlOf(node), "/health/live"))).IsSuccessStatusCode)
                {
                    await Certificates.PinAsync(AddressOf(node), HttpsPort);
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{node} not up after 90 s:\n{Log(node)}");
    }

    /// <summary>The id of the node's own process (to freeze it).</summary>
    public int ProcessIdOf(string node) => _processes[node].Id;

    /// <summary>kill -9 of the node process and of its PostgreSQL postmaster, as a power cut would.</summary>
    public async Task CrashAsync(string node)
    {
        var process = _processes[node];
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        await Shell.KillPostmasterAsync(Path.Combine(DataOf(node), "pg", "postmaster.pid"));
    }

    /// <summary>The node's console API as the console verbs reach it: mutual TLS with a console certificate of the cluster CA.</summary>
    public HttpClient Admin(string node)
    {
        var credentials = ClusterCredentials.Load(_keys);
        return new HttpClient(HttpPeerLink.CreateHandler(credentials, credentials.IssueConsole(), ClusterCredentials.NodeRole))
        {
            BaseAddress = PeerUrlOf(node), Timeout = TimeSpan.FromMinutes(2),
        };
    }

    public async Task<(HttpStatusCode Status, string Body)> VerbAsync(string node, string verb, object? body = null)
    {
        using var client = Admin(node);
        var response = body is null
            ? await client.PostAsync($"/admin/ha/{verb}", null)
            : await client.PostAsJsonAsync($"/admin/ha/{verb}", body, Json);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<HaStatus> StatusAsync(string node)
    {
        using var client = Admin(node);
        return (await client.GetFromJsonAsync<HaStatus>("/admin/ha/status", Json))!;
    }

    public Task<(HttpStatusCode Status, string Body)> DeployAsync() =>
        VerbAsync("primary", "deploy", new DeployCluster(PeerUrlOf("secondary").ToString(), Vip));

    /// <summary>Waits until the condition holds on the node's status, failing with the last status seen.</summary>
    public async Task<HaStatus> WaitForAsync(string node, Func<HaStatus, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        HaStatus? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await StatusAsync(node);
                if (condition(last))
                    return last;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"{node} never reached the expected state; last: {JsonSerializer.Serialize(last, Json)}\n--- log ---\n{Log(node)}");
    }

    /// <summary>Reads pg_stat_replication on the node's own database: who streams from it, and how.</summary>
    public sealed record HttpsView(bool Trusted, string Subject, string Thumbprint);

    /// <summary>A TLS handshake with the VIP's HTTPS port, as a product would: trusting only the CSC root, the host name checked.</summary>
    public async Task<HttpsView> HttpsThroughVipAsync()
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(Vip, HttpsPort);
        var trusted = false;
        using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, certificate, _, errors) =>
        {
            trusted = CscEmulatorProcess.TrustedBy(Csc!.Root, certificate, errors);
            return true;
        });
        await tls.AuthenticateAsClientAsync(Vip);
        var presented = new System.Security.Cryptography.X509Certificates.X509Certificate2(tls.RemoteCertificate!);
        return new HttpsView(trusted, presented.Subject, presented.Thumbprint);
    }

    /// <summary>
    /// Until the VIP's HTTPS port serves the login page (200): the node that holds the VIP now answers through it. The
    /// status's VIP holder is set when a node claims the address; its redirect is made a moment later, in the background.
    /// </summary>
    public async Task WaitVipServesAsync()
    {
        using var http = new HttpClient(Certificates.Handler()) { BaseAddress = VipUrl, Timeout = TimeSpan.FromSeconds(3) };
        await Eventually.FoundAsync(async () =>
        {
            try
            {
                using var response = await http.GetAsync("/login");
                return response.StatusCode == System.Net.HttpStatusCode.OK ? true : (bool?)null;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return (bool?)null;
            }
        }, TimeSpan.FromSeconds(20), "the VIP never served the login page");
    }

    public async Task<HttpsView> WaitHttpsThroughVipAsync(Func<HttpsView, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        HttpsView? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await HttpsThroughVipAsync();
                if (condition(last))
                    return last;
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or System.Security.Authentication.AuthenticationException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"HTTPS through the VIP never presented the expected certificate; last: {last}");
    }

    public async Task<List<(string Name, string State, string Sync)>> ReplicationFromAsync(string node)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = Path.Combine(DataOf(node), "pg-run"), Port = PgPort, Username = "postgres", Database = "postgres", Pooling = false,
        }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select application_name, state, sync_state from pg_stat_replication", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, string, string)>();
        while (await reader.ReadAsync())
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        return rows;
    }

    /// <summary>Marten straight on the node's own database, over its Unix socket (to seed or count what the API does not show).</summary>
    public IDocumentStore StoreOf(string node) => DocumentStore.For(options =>
    {
        options.Connection(new NpgsqlConnectionStringBuilder
        {
            Host = Path.Combine(DataOf(node), "pg-run"), Port = PgPort, Username = "postgres", Database = "ssm", Pooling = false,
        }.ConnectionString);
        options.DatabaseSchemaName = "ssm";
        options.AutoCreateSchemaObjects = JasperFx.AutoCreate.None;
    });

    /// <summary>A browser-less operator signed in through the VIP (or, after a teardown, at a node's own address).</summary>
    public async Task<HttpClient> SignedInThroughVipAsync(Uri? at = null)
    {
        var client = new HttpClient(Certificates.Handler()) { BaseAddress = at ?? VipUrl, Timeout = TimeSpan.FromSeconds(3) };
        client.DefaultRequestHeaders.Add(Ssm.Web.Security.CrossSiteGuard.RequestedWithHeader, "ssm-tests");
        var deadline = DateTime.UtcNow.AddSeconds(15);
        var last = "";
        while (true)
        {
            try
            {
                var response = await client.PostAsJsonAsync("/api/session", new { userName = "admin", password = NodeProcess.AdminPassword });
                if (response.IsSuccessStatusCode)
                    return client;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            // Past the deadline too: the timeout below then says why, with both nodes' logs.
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = $"{ex.Message} {ex.InnerException?.Message}";
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"could not sign in at {client.BaseAddress}; last: {last}\n--- primary ---\n{Log("primary")}\n--- secondary ---\n{Log("secondary")}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Csc is not null)
            await Csc.DisposeAsync();
        foreach (var (_, process) in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
        // The nodes leave their PostgreSQL running when killed; stop each by its own pid file.
        foreach (var node in new[] { "primary", "secondary" })
            await Shell.KillPostmasterAsync(Path.Combine(DataOf(node), "pg", "postmaster.pid"));
        await Shell.KillPostmasterAsync(Path.Combine(WitnessData, "postmaster.pid"));
        // The loopback VIP's kernel redirect outlives the nodes by design; the cluster's end removes it (decision 0021).
        await NftRedirect.RemoveTableAsync(Vip);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Cluster tests run one at a time: each starts several servers, and two cores are shared.</summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection
{
    public const string Name = "cluster";
}

/// <summary>
/// Cluster tests whose bounds are failover times run alone, after the parallel tests: a node starved of CPU by other
/// tests misses its witness renewals for 600 ms and fences itself, which is the design, not what they measure.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimedClusterCollection
{
    public const string Name = "timed cluster";
}
