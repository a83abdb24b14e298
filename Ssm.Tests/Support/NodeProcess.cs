using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace Ssm.Tests.Support;

/// <summary>
/// A real `ssm node` process, built from Ssm.Web, on its own database and free loopback ports: what an
/// operator runs, not an in-memory test host. Clients talk HTTPS (<see cref="BaseAddress"/>) and trust the
/// certificate the node presented when it started; the HTTP port serves only health and cluster calls.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    public const string AdminPassword = "admin-password-for-tests";
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _dataDirectory;

    /// <summary>The HTTPS port: dashboard, APIs, products.</summary>
    public Uri BaseAddress { get; }
    /// <summary>The HTTP listener (--listen): health, peer and console calls, redirects to HTTPS.</summary>
    public Uri HttpAddress { get; }
    public string ConnectionString { get; }
    public TimeSpan StartToReady { get; private set; }
    public PinnedCertificates Certificates { get; } = new();

    private NodeProcess(Process process, Uri baseAddress, Uri httpAddress, string connectionString, string dataDirectory)
    {
        _process = process;
        BaseAddress = baseAddress;
        HttpAddress = httpAddress;
        ConnectionString = connectionString;
        _dataDirectory = dataDirectory;
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public static async Task<NodeProcess> StartAsync(string database, string name = "test-node", IEnumerable<string>? arguments = null,
        IDictionary<string, string>? environment = null, bool keepDatabase = false)
    {
        var server = await PostgresServer.GetAsync();
        // keepDatabase: start on the database as it is (a restart), instead of a new empty one.
        var connectionString = keepDatabase ? server.ConnectionStringFor(database) : await server.CreateDatabaseAsync(database);
        var httpAddress = new Uri($"http://127.0.0.1:{PostgresServer.FreePort()}");
        var extra = arguments?.ToList() ?? [];
        var httpsAt = extra.IndexOf("--https-port");
        var httpsPort = httpsAt >= 0 ? int.Parse(extra[httpsAt + 1]) : PostgresServer.FreePort();
        if (httpsAt < 0)
            extra.AddRange(["--https-port", httpsPort.ToString()]);
        var data = Path.Combine(Path.GetTempPath(), $"ssm-test-node-{Guid.NewGuid():N}");

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { WebAssemblyPath(), "node", "--name", name, "--listen", httpAddress.ToString().TrimEnd('/'), "--db", connectionString, "--data", data })
            start.ArgumentList.Add(arg);
        foreach (var arg in extra)
            start.ArgumentList.Add(arg);
        start.Environment["SSM_ADMIN_PASSWORD"] = AdminPassword;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            start.Environment[key] = value;

        var started = Stopwatch.StartNew();
        var node = new NodeProcess(Process.Start(start)!, new Uri($"https://127.0.0.1:{httpsPort}"), httpAddress, connectionString, data);
        node._process.OutputDataReceived += (_, e) => node.Append(e.Data);
        node._process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        node._process.BeginOutputReadLine();
        node._process.BeginErrorReadLine();
        await node.WaitReadyAsync();
        node.StartToReady = started.Elapsed;
        await node.Certificates.PinAsync(node.BaseAddress.Host, node.BaseAddress.Port);
        return node;
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    private async Task WaitReadyAsync()
    {
        using var http = new HttpClient { BaseAddress = HttpAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"ssm node exited with {_process.ExitCode}:\n{Output}");
            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"ssm node not ready after 60 s:\n{Output}");
    }

    /// <summary>
    /// An HTTPS client with its own cookie jar, not signed in, connecting from the given loopback address (its
    /// own login-throttle bucket) or 127.0.0.1. It sends X-Requested-With, as the dashboard's own scripts would.
    /// </summary>
    public HttpClient Anonymous(IPAddress? source = null)
    {
        var handler = Certificates.Handler();
        if (source is not null)
            handler.ConnectCallback = Ssm.ProductSimulator.ProductClient.ConnectFrom(source);
        var client = new HttpClient(handler) { BaseAddress = BaseAddress };
        client.DefaultRequestHeaders.Add(Ssm.Web.Security.CrossSiteGuard.RequestedWithHeader, "ssm-tests");
        return client;
    }

    public async Task<HttpClient> SignedInAsync(string user = "admin", string password = AdminPassword, IPAddress? source = null)
    {
        var client = Anonymous(source);
        var response = await client.PostAsJsonAsync("/api/session", new { userName = user, password });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return client;
    }

    /// <summary>Runs `ssm admin set-password` against this node's database, as an operator would.</summary>
    public async Task SetPasswordAsync(string user, string password, string role)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[] { WebAssemblyPath(), "admin", "set-password", "--user", user, "--role", role, "--db", ConnectionString })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteLineAsync(password);
        process.StandardInput.Close();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        process.ExitCode.ShouldBe(0, stderr);
    }

    public static string WebAssemblyPath() => BuiltAssemblyPath("Ssm.Web", "ssm.dll");

    /// <summary>The CSC emulator, a tool of its own (tools/Ssm.CscEmulator).</summary>
    public static string CscEmulatorAssemblyPath() => BuiltAssemblyPath(Path.Combine("tools", "Ssm.CscEmulator"), "csc-emulator.dll");

    /// <summary>The product simulator, a tool of its own (tools/Ssm.ProductSimulator).</summary>
    public static string ProductSimulatorAssemblyPath() => BuiltAssemblyPath(Path.Combine("tools", "Ssm.ProductSimulator"), "product-simulator.dll");

    private static string BuiltAssemblyPath(string project, string assembly)
    {
        // The test assembly sits in Ssm.Tests/bin/<Configuration>/net10.0; each program is built in its own project's bin.
        var testOutput = AppContext.BaseDirectory.TrimEnd('/');
        var framework = Path.GetFileName(testOutput);
        var configuration = Path.GetFileName(Path.GetDirectoryName(testOutput)!);
        var root = Path.GetFullPath(Path.Combine(testOutput, "..", "..", "..", ".."));
        var path = Path.Combine(root, project, "bin", configuration, framework, assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"Build {project} first", path);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        if (Directory.Exists(_dataDirectory))
            Directory.Delete(_dataDirectory, recursive: true);
    }
}

/// <summary>One node shared by the HTTP and browser tests of a run.</summary>
public sealed class NodeFixture : IAsyncLifetime
{
    public NodeProcess Node { get; private set; } = default!;

    public async ValueTask InitializeAsync() => Node = await NodeProcess.StartAsync("ssm_node");

    public async ValueTask DisposeAsync() => await Node.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class NodeCollection : ICollectionFixture<NodeFixture>
{
    public const string Name = "node";
}
