using System.Diagnostics;
using System.Text;

namespace Ssm.Tests.Support;

/// <summary>
/// Separate hosts on one machine: network namespaces joined by veth pairs to a bridge that lives in a
/// namespace of its own, on a private subnet. Nothing is added to the machine's own namespace, and
/// everything is deleted on dispose. Needs root.
/// </summary>
public sealed class NetworkLab : IAsyncDisposable
{
    private readonly List<string> _namespaces = [];

    public string Prefix { get; }
    public string Subnet { get; }

    private NetworkLab(string prefix, string subnet)
    {
        Prefix = prefix;
        Subnet = subnet;
    }

    public static async Task<string?> WhyNotAsync()
    {
        if (Environment.UserName != "root")
            return "network namespace tests need root (CI runs as root)";
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip"))
            return "the ip command (iproute2) is missing";
        // Root inside a container without CAP_SYS_ADMIN still cannot make namespaces: say so rather than fail.
        var probe = $"ssmprobe{Environment.ProcessId}";
        try
        {
            await Shell.RunAsync("ip", ["netns", "add", probe]);
            await Shell.RunAsync("ip", ["netns", "del", probe]);
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return $"this machine does not allow network namespaces: {ex.Message}";
        }
    }

    public string Namespace(string host) => $"{Prefix}{host}";
    public string Address(int host) => $"{Subnet}.{host}";

    /// <summary>Creates the switch and one namespace per host, each with eth0 at the given address.</summary>
    public static async Task<NetworkLab> CreateAsync(IReadOnlyDictionary<string, int> hosts)
    {
        var id = Random.Shared.Next(100, 999);
        var lab = new NetworkLab($"ssm{id}", $"10.231.{Random.Shared.Next(1, 250)}");
        var sw = lab.Namespace("sw");
        await lab.AddNamespaceAsync(sw);
        await Ip("netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge");
        await Ip("netns", "exec", sw, "ip", "link", "set", "br0", "up");
        foreach (var (host, number) in hosts)
        {
            var ns = lab.Namespace(host);
            await lab.AddNamespaceAsync(ns);
            await Ip("netns", "exec", sw, "ip", "link", "add", $"v{host}", "type", "veth", "peer", "name", "eth0", "netns", ns);
            await Ip("netns", "exec", sw, "ip", "link", "set", $"v{host}", "master", "br0", "up");
            await Ip("netns", "exec", ns, "ip", "addr", "add", $"{lab.Address(number)}/24", "dev", "eth0");
            await Ip("netns", "exec", ns, "ip", "link", "set", "eth0", "up");
        }
        return lab;
    }

    private async Task AddNamespaceAsync(string ns)
    {
        await Ip("netns", "add", ns);
        _namespaces.Add(ns);
        await Ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
    }

    private static Task<string> Ip(params string[] args) => Shell.RunAsync("ip", args);

    public Task<string> ExecAsync(string host, params string[] command) => Shell.RunAsync("ip", ["netns", "exec", Namespace(host), .. command]);

    /// <summary>Starts a long-running program inside the host's namespace; `ip netns exec` execs, so the pid is the program's.</summary>
    public Process Start(string host, IReadOnlyDictionary<string, string> environment, StringBuilder log, params string[] command)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "netns", "exec", Namespace(host) }.Concat(command))
            start.ArgumentList.Add(arg);
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>An HTTP call made from inside a host's namespace (curl), returning status and body.</summary>
    /// <summary>curl in the host's namespace; with tls, a client certificate (tls.crt, tls.key) and the CA (ca.crt) of that folder.</summary>
    public async Task<(int Status, string Body)> CurlAsync(string host, string method, string url, string? json = null, string? tls = null,
        int timeoutSeconds = 10)
    {
        List<string> args = ["netns", "exec", Namespace(host), "curl", "-s", "-m", timeoutSeconds.ToString(), "-X", method, "-w", "\n%{http_code}"];
        if (tls is not null)
            args.AddRange(["--cert", Path.Combine(tls, "tls.crt"), "--key", Path.Combine(tls, "tls.key"), "--cacert", Path.Combine(tls, "ca.crt")]);
        if (json is not null)
            args.AddRange(["-H", "Content-Type: application/json", "--data-binary", json]);
        args.Add(url);
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var cut = output.LastIndexOf('\n');
        return cut < 0 ? (0, output) : (int.TryParse(output[(cut + 1)..], out var code) ? code : 0, output[..cut]);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            try
            {
                await Ip("netns", "del", ns);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
