using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace Ssm.Tests.Support;

/// <summary>
/// A real `ssm node` process, built from Ssm.Web, on its own database and a free loopback port:
/// what an operator runs, not an in-memory test host.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    public const string AdminPassword = "admin-password-for-tests";
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _dataDirectory;

    public Uri BaseAddress { get; }
    public string ConnectionString { get; }
    public TimeSpan StartToReady { get; private set; }

    private NodeProcess(Process process, Uri baseAddress, string connectionString, string dataDirectory)
    {
        _process = process;
        BaseAddress = baseAddress;
        ConnectionString = connectionString;
        _dataDirectory = dataDirectory;
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public static async Task<NodeProcess> StartAsync(string database, string name = "test-node", IEnumerable<string>? arguments = null,
        IDictionary<string, string>? environment = null)
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync(database);
        var port = PostgresServer.FreePort();
        var baseAddress = new Uri($"http://127.0.0.1:{port}");
        var data = Path.Combine(Path.GetTempPath(), $"ssm-test-node-{Guid.NewGuid():N}");

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { WebAssemblyPath(), "node", "--name", name, "--listen", baseAddress.ToString().TrimEnd('/'), "--db", connectionString, "--data", data })
            start.ArgumentList.Add(arg);
        foreach (var arg in arguments ?? [])
            start.ArgumentList.Add(arg);
        start.Environment["SSM_ADMIN_PASSWORD"] = AdminPassword;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            start.Environment[key] = value;

        var started = Stopwatch.StartNew();
        var node = new NodeProcess(Process.Start(start)!, baseAddress, connectionString, data);
        node._process.OutputDataReceived += (_, e) => node.Append(e.Data);
        node._process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        node._process.BeginOutputReadLine();
        node._process.BeginErrorReadLine();
        await node.WaitReadyAsync();
        node.StartToReady = started.Elapsed;
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
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
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

    /// <summary>A client with its own cookie jar, not signed in.</summary>
    public HttpClient Anonymous() => new(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
    {
        BaseAddress = BaseAddress,
    };

    public async Task<HttpClient> SignedInAsync(string user = "admin", string password = AdminPassword)
    {
        var client = Anonymous();
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

    public static string WebAssemblyPath()
    {
        // The test assembly sits in Ssm.Tests/bin/<Configuration>/net10.0; the node is built beside it.
        var testOutput = AppContext.BaseDirectory.TrimEnd('/');
        var framework = Path.GetFileName(testOutput);
        var configuration = Path.GetFileName(Path.GetDirectoryName(testOutput)!);
        var root = Path.GetFullPath(Path.Combine(testOutput, "..", "..", "..", ".."));
        var path = Path.Combine(root, "Ssm.Web", "bin", configuration, framework, "ssm.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build Ssm.Web first", path);
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
