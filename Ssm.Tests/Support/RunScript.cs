using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Ha;

namespace Ssm.Tests.Support;

/// <summary>
/// `./run.sh` as a newcomer runs it, on a data folder, loopback addresses and ports of its own (so it cannot collide
/// with `.data`, another session's run or another test), with the node the tests built (SSM_APP). Stopped as Ctrl-C
/// does (SIGINT to its own pid); whatever it left behind is stopped by the pid files in its data folder.
/// </summary>
public sealed class RunScript : IAsyncDisposable
{
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private Process? _process;

    public string Data { get; } = Path.Combine(Path.GetTempPath(), $"ssm-runsh-{Guid.NewGuid():N}"[..27]);
    public string Net { get; }
    public string Primary => $"{Net}.11";
    public string Secondary => $"{Net}.9";
    public string Vip => $"{Net}.14";
    public int HttpPort { get; }
    public int HttpsPort { get; }
    public int PeerPort { get; }
    public string Keys => Path.Combine(Data, "cluster-keys");
    public string SsmPath => Path.Combine(Path.GetDirectoryName(NodeProcess.WebAssemblyPath())!, "ssm");

    public RunScript()
    {
        Net = $"127.{Random.Shared.Next(20, 250)}.{Random.Shared.Next(1, 250)}";
        var addresses = new[] { ".11", ".9", ".14", ".13", ".15" }.Select(a => Net + a).ToArray();
        var ports = new HashSet<int>();
        while (ports.Count < 5)
        {
            var port = PostgresServer.FreePort();
            if (addresses.All(address => TestCluster.CanBind(address, port)))
                ports.Add(port);
        }
        (HttpPort, HttpsPort, PeerPort, PgPort, CscPort) = (ports.ElementAt(0), ports.ElementAt(1), ports.ElementAt(2), ports.ElementAt(3), ports.ElementAt(4));
    }

    private int PgPort { get; }
    private int CscPort { get; }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    private static string RepositoryRoot =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(NodeProcess.WebAssemblyPath())!, "..", "..", "..", ".."));

    /// <summary>Starts run.sh and returns once it printed its banner (its last line names Ctrl-C).</summary>
    public async Task<string> StartAsync(params string[] arguments)
    {
        if (_process is { HasExited: false })
            throw new InvalidOperationException("run.sh runs already");
        lock (_stdout) _stdout.Clear();
        lock (_stderr) _stderr.Clear();
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryRoot };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot, "run.sh"));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (key, value) in new Dictionary<string, string>
                 {
                     ["SSM_DATA"] = Data, ["SSM_APP"] = Path.GetDirectoryName(SsmPath)!,
                     ["SSM_PRIMARY"] = Primary, ["SSM_SECONDARY"] = Secondary, ["SSM_VIP"] = Vip, ["SSM_WITNESS"] = $"{Net}.13", ["SSM_CSC"] = $"{Net}.15",
                     ["SSM_HTTP_PORT"] = $"{HttpPort}", ["SSM_HTTPS_PORT"] = $"{HttpsPort}", ["SSM_PEER_PORT"] = $"{PeerPort}",
                     ["SSM_PG_PORT"] = $"{PgPort}", ["SSM_CSC_PORT"] = $"{CscPort}",
                 })
            start.Environment[key] = value;
        start.Environment.Remove("SSM_ADMIN_PASSWORD");
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(4);
        while (!Stdout.Contains("Stop everything:"))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"run.sh {string.Join(' ', arguments)} printed no banner (exit {(_process.HasExited ? _process.ExitCode : "none yet")}):\n" +
                                                    $"{Stdout}\n--- stderr ---\n{Stderr}\n--- logs ---\n{Logs()}");
            await Task.Delay(200);
        }
        return Stdout;
    }

    public string Logs() => string.Join("\n", new[] { "primary.log", "secondary.log" }.Select(f => Path.Combine(Data, f))
        .Where(File.Exists).Select(f => $"--- {Path.GetFileName(f)} (end) ---\n{string.Concat(File.ReadAllText(f).TakeLast(4000))}"));

    /// <summary>Ctrl-C: SIGINT to run.sh itself, which stops what it started. Returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (_process is null || _process.HasExited)
            return _process?.ExitCode ?? 0;
        await Signal(_process.Id, "INT");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    private static async Task Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { $"-{signal}", pid.ToString() } })!;
        await kill.WaitForExitAsync();
    }

    /// <summary>A console verb as the banner prints it: `ssm VERB --node https://ADDRESS:PEER_PORT` with SSM_CLUSTER_KEYS.</summary>
    public async Task<(int Exit, string Output)> ConsoleAsync(string verb, string address)
    {
        var start = new ProcessStartInfo(SsmPath) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { verb, "--node", $"https://{address}:{PeerPort}" })
            start.ArgumentList.Add(argument);
        start.Environment["SSM_CLUSTER_KEYS"] = Keys;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>The node's status from its console API (mutual TLS, a console certificate of the cluster CA).</summary>
    public async Task<HaStatus> StatusAsync(string address)
    {
        var credentials = ClusterCredentials.Load(Keys);
        using var certificate = credentials.IssueConsole();
        using var client = new HttpClient(HttpPeerLink.CreateHandler(credentials, certificate, ClusterCredentials.NodeRole))
        {
            BaseAddress = new Uri($"https://{address}:{PeerPort}"), Timeout = TimeSpan.FromSeconds(10),
        };
        return (await client.GetFromJsonAsync<HaStatus>("/admin/ha/status", TestCluster.Json))!;
    }

    public async Task<HaStatus> WaitForAsync(string address, Func<HaStatus, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(40));
        HaStatus? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (condition(last = await StatusAsync(address)))
                    return last;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{address} never reached the expected state; last: {System.Text.Json.JsonSerializer.Serialize(last, TestCluster.Json)}\n{Logs()}");
    }

    /// <summary>The admin signed in over HTTPS at ADDRESS (the node's certificate is self-signed until CSC signs one).</summary>
    public async Task<HttpClient> SignInAsync(string address, string password)
    {
        var client = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true })
        {
            BaseAddress = new Uri($"https://{address}:{HttpsPort}"), Timeout = TimeSpan.FromSeconds(5),
        };
        client.DefaultRequestHeaders.Add(Ssm.Web.Security.CrossSiteGuard.RequestedWithHeader, "ssm-tests");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                var response = await client.PostAsJsonAsync("/api/session", new { userName = "admin", password });
                if (response.IsSuccessStatusCode)
                    return client;
                if (DateTime.UtcNow > deadline)
                    throw new InvalidOperationException($"sign-in at {address}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
            catch (Exception ex) when ((ex is HttpRequestException or TaskCanceledException) && DateTime.UtcNow < deadline)
            {
            }
            await Task.Delay(200);
        }
    }

    /// <summary>Whether anything accepts a TCP connection at ADDRESS:PORT.</summary>
    public static async Task<bool> AnswersAsync(string address, int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Parse(address), port).WaitAsync(TimeSpan.FromSeconds(2));
            return true;
        }
        catch (Exception ex) when (ex is SocketException or TimeoutException)
        {
            return false;
        }
    }


    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (OperationCanceledException)
        {
            await Signal(_process!.Id, "KILL");
        }
        // What a killed run.sh left: the processes its pid files name (if still ours), then each PostgreSQL it ran.
        foreach (var file in Directory.Exists(Data) ? Directory.GetFiles(Data, "*.pid") : [])
        {
            if (!int.TryParse(File.ReadAllText(file).Trim(), out var pid))
                continue;
            try
            {
                using var process = Process.GetProcessById(pid);
                if (File.ReadAllText($"/proc/{pid}/cmdline").Contains(Data))
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }
            catch (Exception ex) when (ex is ArgumentException or IOException or InvalidOperationException)
            {
            }
        }
        foreach (var pg in new[] { "primary/pg", "secondary/pg", "witness" })
            await Shell.KillPostmasterAsync(Path.Combine(Data, pg, "postmaster.pid"));
        _process?.Dispose();
        try
        {
            Directory.Delete(Data, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}
