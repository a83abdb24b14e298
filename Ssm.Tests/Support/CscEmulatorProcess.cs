using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Ssm.Tests.Support;

/// <summary>
/// A real `csc-emulator` process on a loopback port and a given data folder, reached over real HTTPS
/// by clients that trust only the root it generated.
/// </summary>
public sealed class CscEmulatorProcess : IAsyncDisposable
{
    public const string Password = "csc-password-for-tests";
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public Uri BaseAddress { get; }
    public string DataDirectory { get; }
    public string RootPath => Path.Combine(DataDirectory, "csc-root.pem");
    public X509Certificate2 Root { get; private set; } = default!;

    private CscEmulatorProcess(Process process, Uri baseAddress, string dataDirectory)
    {
        _process = process;
        BaseAddress = baseAddress;
        DataDirectory = dataDirectory;
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public static async Task<CscEmulatorProcess> StartAsync(string dataDirectory, string approval = "auto", string tokenLifetime = "00:00:03", int? port = null)
    {
        var baseAddress = new Uri($"https://127.0.0.1:{port ?? PostgresServer.FreePort()}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { NodeProcess.CscEmulatorAssemblyPath(), "--listen", baseAddress.ToString().TrimEnd('/'),
                     "--data", dataDirectory, "--approval", approval, "--token-lifetime", tokenLifetime })
            start.ArgumentList.Add(arg);
        start.Environment["CSC_OPERATOR_PASSWORD"] = Password;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";

        var emulator = new CscEmulatorProcess(Process.Start(start)!, baseAddress, dataDirectory);
        emulator._process.OutputDataReceived += (_, e) => emulator.Append(e.Data);
        emulator._process.ErrorDataReceived += (_, e) => emulator.Append(e.Data);
        emulator._process.BeginOutputReadLine();
        emulator._process.BeginErrorReadLine();
        try
        {
            await emulator.WaitReadyAsync();
        }
        catch
        {
            await emulator.DisposeAsync();
            throw;
        }
        return emulator;
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
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"csc-emulator exited with {_process.ExitCode}:\n{Output}");
            if (File.Exists(RootPath))
            {
                Root ??= X509CertificateLoader.LoadCertificateFromFile(RootPath);
                try
                {
                    using var http = Client();
                    if ((await http.GetAsync("/csc/v1/root")).IsSuccessStatusCode)
                        return;
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"csc-emulator not ready after 60 s:\n{Output}");
    }

    /// <summary>A client that trusts only the emulator's root, host name checked.</summary>
    public HttpClient Client(bool followRedirects = true)
    {
        var root = Root;
        var handler = new HttpClientHandler
        {
            AllowAutoRedirect = followRedirects,
            ServerCertificateCustomValidationCallback = (_, certificate, _, errors) => TrustedBy(root, certificate, errors),
        };
        return new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>As a product checks a server: the certificate chains to this root only, and names the host it was asked for.</summary>
    public static bool TrustedBy(X509Certificate2 root, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        using var presented = new X509Certificate2(certificate);
        return chain.Build(presented);
    }

    public HttpClient Operator(string password = Password, bool followRedirects = true)
    {
        var http = Client(followRedirects);
        http.DefaultRequestHeaders.Authorization = Basic("csc-operator", password);
        return http;
    }

    public static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    /// <summary>kill -9, as a crash would.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>Runs `ssm ARGS` to its end, as an operator would; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string? password, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(NodeProcess.CscEmulatorAssemblyPath());
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment.Remove("CSC_OPERATOR_PASSWORD");
        if (password is not null)
            start.Environment["CSC_OPERATOR_PASSWORD"] = password;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            await process.WaitForExitAsync();
            throw new TimeoutException($"ssm {string.Join(' ', args)} did not end in 60 s");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
        Root?.Dispose();
    }
}
