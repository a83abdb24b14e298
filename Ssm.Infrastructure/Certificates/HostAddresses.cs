using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Ssm.Application.Certificates;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Certificates;

/// <summary>
/// Whether this node is configured for both IPv4 and IPv6: Node:DualStack when set; else a node that
/// listens on one IPv4 or IPv6 address is single-stack, and one that listens on every IPv6 address (or
/// on a host name) is dual-stack when an interface that is up has a global address of each family.
/// </summary>
public sealed class HostAddresses(IConfiguration configuration, IOptions<NodeOptions> node) : IHostAddresses
{
    public bool DualStack => configuration.GetValue<bool?>("Node:DualStack") ?? FromListenAddress();

    private bool FromListenAddress()
    {
        if (!Uri.TryCreate(node.Value.Listen, UriKind.Absolute, out var listen))
            return false;
        if (IPAddress.TryParse(listen.Host.Trim('[', ']'), out var address) && !address.Equals(IPAddress.IPv6Any))
            return false;
        var addresses = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses.Select(a => a.Address))
            .ToList();
        return addresses.Any(a => a.AddressFamily == AddressFamily.InterNetwork)
               && addresses.Any(a => a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal && !a.IsIPv6SiteLocal);
    }
}
