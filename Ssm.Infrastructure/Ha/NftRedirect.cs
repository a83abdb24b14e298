using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// The loopback VIP as the kernel's redirect (decision 0021): one nftables table per VIP, whose `vip` chain
/// rewrites new local connections to VIP:ports onto the holder's own address (DNAT in the output hook, so the
/// client's source address reaches the node unchanged) and whose `stale` chain resets what is left of
/// connections the redirect gave an earlier holder. The holder rewrites both chains in one transaction, so a
/// frozen old holder has nothing to give back; it removes only its own rules, by their handles, so a thawed
/// holder cannot remove the redirect that now points at the other node.
/// </summary>
public sealed class NftRedirect(string vip, string target, int[] ports, string node)
{
    private (long Vip, long Stale)? _handles;

    /// <summary>Whether this node's rules are in the table (as far as it knows: the other node may have replaced them).</summary>
    public bool Installed => _handles is not null;

    public static string TableOf(string vip) => "ssm_vip_" + vip.Replace('.', '_');

    private string Table => TableOf(vip);
    private string Ports => string.Join(", ", ports);
    // The rules' comment names the holder, for whoever lists the table; only characters nft takes in a string.
    private string Holder => new([.. node.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')]);

    /// <summary>Why the kernel cannot carry this VIP here, or null when it can.</summary>
    public static async Task<string?> WhyNotAsync(string vip, string target, CancellationToken cancellationToken) =>
        WhyNot(vip, target) ?? await KernelWhyNotAsync(cancellationToken);

    /// <summary>Why these addresses cannot be redirected (an IPv6 VIP, a host name to listen on), or null.</summary>
    public static string? WhyNot(string vip, string target)
    {
        if (!IPAddress.TryParse(vip, out var address) || address.AddressFamily != AddressFamily.InterNetwork || !IPAddress.IsLoopback(address))
            return $"the VIP {vip} is not an IPv4 loopback address";
        if (!IPAddress.TryParse(target, out var own) || own.AddressFamily != AddressFamily.InterNetwork)
            return $"the node's --listen host {target} is not an IPv4 address";
        return null;
    }

    /// <summary>Why this process cannot change nftables (not root, no nft), or null.</summary>
    public static async Task<string?> KernelWhyNotAsync(CancellationToken cancellationToken)
    {
        if (!ProcessRunner.IsRoot)
            return "the node does not run as root (nftables needs CAP_NET_ADMIN)";
        if (FindNft() is null)
            return "nft is not installed (Debian: apt-get install nftables)";
        try
        {
            await Nftables.RunAsync("list tables", echoHandles: false, cancellationToken);
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return ex.Message;
        }
    }

    private static string? FindNft() =>
        new[] { "/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft" }.FirstOrDefault(File.Exists);

    /// <summary>Points the VIP at this node, whoever it pointed at before, and cuts the connections it carried.</summary>
    public async Task PointHereAsync(CancellationToken cancellationToken)
    {
        // One transaction: the table and chains if missing, then both chains replaced. Never two redirects, never none.
        var script = $$"""
            table ip {{Table}} { chain vip { type nat hook output priority -100; policy accept; }; chain stale { type filter hook output priority 0; policy accept; }; };
            flush chain ip {{Table}} vip; flush chain ip {{Table}} stale;
            add rule ip {{Table}} vip ip daddr {{vip}} tcp dport { {{Ports}} } dnat to {{target}} comment "{{Holder}}";
            add rule ip {{Table}} stale ct original ip daddr {{vip}} meta l4proto tcp ct original proto-dst { {{Ports}} } ct reply ip saddr != {{target}} tcp flags & rst == 0 reject with tcp reset comment "{{Holder}}"
            """.ReplaceLineEndings(" ");
        var echo = await Nftables.RunAsync(script, echoHandles: true, cancellationToken);
        _handles = (HandleOf(echo, "vip"), HandleOf(echo, "stale"));
        // Connections made to the VIP before now belong to the old holder: reset them, as a relay's release would (a client
        // waiting on a frozen holder learns at once). Only those: a client may already have reached this node through the
        // new redirect, and cutting it lost the answer to a write this node committed (an ambiguous answer in a planned
        // handover of bench/failover.sh). In the background: the takeover that called this renews the lease only after it returns.
        _ = CutOthersAsync();
    }

    /// <summary>
    /// Resets the local connections to the VIP that the kernel carries to another node than this one, read from the
    /// connection tracking table (/proc/net/nf_conntrack: each entry's original tuple, then its reply tuple, whose
    /// source is where the redirect took it). Without that table, every connection to the VIP.
    /// </summary>
    private async Task CutOthersAsync()
    {
        string[] entries;
        try
        {
            entries = await File.ReadAllLinesAsync("/proc/net/nf_conntrack");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await CutAsync(CancellationToken.None);
            return;
        }
        var clientPorts = new List<string>();
        foreach (var entry in entries)
        {
            var fields = entry.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string? First(string key) => fields.FirstOrDefault(f => f.StartsWith(key, StringComparison.Ordinal))?[key.Length..];
            string? Second(string key) => fields.Where(f => f.StartsWith(key, StringComparison.Ordinal)).Skip(1).FirstOrDefault()?[key.Length..];
            if (!fields.Contains("tcp") || First("dst=") != vip || !int.TryParse(First("dport="), out var port) || !ports.Contains(port))
                continue;
            if (Second("src=") is { } carriedTo && carriedTo != target && First("sport=") is { } clientPort)
                clientPorts.Add(clientPort);
        }
        if (clientPorts.Count == 0)
            return;
        var filter = string.Join(" or ", clientPorts.Distinct().Select(p => $"sport = :{p}")).Split(' ');
        await RunSsAsync(["-K", "-t", "-n", "dst", vip, "and", "(", .. filter, ")"], CancellationToken.None);
    }

    private long HandleOf(string echo, string chain)
    {
        var match = Regex.Match(echo, $@"^add rule ip {Table} {chain} .*# handle (\d+)$", RegexOptions.Multiline);
        return match.Success ? long.Parse(match.Groups[1].Value) : throw new InvalidOperationException($"nft did not echo the {chain} rule: {echo.Trim()}");
    }

    /// <summary>
    /// Removes this node's redirect, if it is still this node's: true if it was, false if another node's has
    /// replaced it since (then nothing is touched).
    /// </summary>
    public async Task<bool> ReleaseAsync()
    {
        if (_handles is not { } handles)
            return false;
        // One transaction: if either handle is gone, the other node rewrote the chains and nothing is deleted.
        var output = await Nftables.RunAsync($"delete rule ip {Table} vip handle {handles.Vip}; delete rule ip {Table} stale handle {handles.Stale}",
            echoHandles: false, CancellationToken.None, throwOnError: false);
        var gone = output.Contains("No such file or directory");
        if (!gone && output.Trim().Length > 0)
            throw new InvalidOperationException($"could not remove the VIP {vip} redirect: {output.Trim()}");
        _handles = null;
        if (gone)
            return false;
        _ = CutAsync(CancellationToken.None);
        return true;
    }

    /// <summary>Resets every local TCP connection to VIP:ports (ss -K, sock_destroy); a kernel without it leaves them to the stale chain.</summary>
    private Task CutAsync(CancellationToken cancellationToken)
    {
        var filter = string.Join(" or ", ports.Select(p => $"dport = :{p}")).Split(' ');
        return RunSsAsync(["-K", "-t", "-n", "dst", vip, "and", "(", .. filter, ")"], cancellationToken);
    }

    private static async Task RunSsAsync(string[] arguments, CancellationToken cancellationToken)
    {
        try
        {
            await ProcessRunner.RunAsync("ss", arguments, null, cancellationToken, throwOnError: false);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            // No ss (iproute2): the stale chain resets each such connection at its next packet instead.
        }
    }

    /// <summary>Deletes the VIP's table: for whoever stops the whole cluster (run.sh, test fixtures), never a node.</summary>
    public static async Task RemoveTableAsync(string vip)
    {
        if (!ProcessRunner.IsRoot || FindNft() is null)
            return;
        await Nftables.RunAsync($"delete table ip {TableOf(vip)}", echoHandles: false, CancellationToken.None, throwOnError: false);
    }
}
