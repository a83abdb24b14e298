using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// The `ip` VIP provider, as keepalived or Pacemaker's IPaddr2: adds the address to an interface and
/// announces it with gratuitous ARP, so clients stop sending to the old holder at once (docs/cluster.md, trap: gratuitous ARP).
/// Needs CAP_NET_ADMIN (root on a host, NET_ADMIN in a container).
/// </summary>
public sealed class IpVip(IOptions<HaOptions> options, ILogger<IpVip> logger) : IVip
{
    private readonly string _interface = options.Value.VipInterface ?? "eth0";

    public string Provider => "ip";
    public string? Address { get; private set; }
    public bool Held { get; private set; }
    public bool CanBeTakenWhileHeld => true;

    private static string Cidr(string address) => address.Contains(':') ? $"{address}/128" : $"{address}/32";

    public async Task AcquireAsync(string address, CancellationToken cancellationToken)
    {
        Address = address;
        if (Held)
            return;
        var output = await ProcessRunner.RunAsync("ip", ["addr", "add", Cidr(address), "dev", _interface], null, cancellationToken, throwOnError: false);
        // Already there (left by this host's earlier process, or added twice): iproute2 before 6 says "File exists",
        // later ones "Address already assigned" (bench/chaos.sh in namespaces: 28-46 s gaps until both were read).
        if (output.Length > 0 && !output.Contains("File exists") && !output.Contains("Address already assigned"))
            throw new InvalidOperationException($"could not add VIP {address} to {_interface}: {output.Trim()}");
        Held = true;
        // Announced in the background: arping waits a second per packet, the address works already.
        _ = AnnounceAsync(address, CancellationToken.None);
        logger.LogInformation("VIP {Address} added to {Interface}", address, _interface);
    }

    public async Task ReleaseAsync()
    {
        if (Address is null || !Held)
            return;
        var output = await DeleteAsync(Address);
        if (output.Length > 0 && !WasNotThere(output))
            throw new InvalidOperationException($"could not remove VIP {Address} from {_interface}: {output.Trim()}");
        Held = false;
        logger.LogInformation("VIP {Address} removed from {Interface}", Address, _interface);
    }

    public async Task DropLeftoverAsync(string address)
    {
        if (Held)
            return;
        if (await DeleteAsync(address) is "")
            logger.LogWarning("VIP {Address} was still on {Interface} from an earlier process of this node: removed", address, _interface);
    }

    /// <summary>`ip addr del`: its output, empty when it removed the address.</summary>
    private Task<string> DeleteAsync(string address) =>
        ProcessRunner.RunAsync("ip", ["addr", "del", Cidr(address), "dev", _interface], null, CancellationToken.None, throwOnError: false);

    /// <summary>"Cannot assign requested address" (iproute2 before 6) or "Address not found": it was gone already.</summary>
    private static bool WasNotThere(string output) =>
        output.Contains("Cannot assign requested address") || output.Contains("Address not found");

    private async Task AnnounceAsync(string address, CancellationToken cancellationToken)
    {
        if (address.Contains(':'))
            return;
        if (!HasArping())
        {
            logger.LogWarning("arping not found (Debian: iputils-arping): no gratuitous ARP sent; clients may keep the old holder's MAC until their ARP cache expires");
            return;
        }
        await Task.WhenAll(
            ProcessRunner.RunAsync("arping", ["-U", "-c", "2", "-I", _interface, address], null, cancellationToken, throwOnError: false),
            ProcessRunner.RunAsync("arping", ["-A", "-c", "2", "-I", _interface, address], null, cancellationToken, throwOnError: false));
    }

    private static bool HasArping() => File.Exists("/usr/sbin/arping") || File.Exists("/usr/bin/arping") || File.Exists("/sbin/arping");
}
