using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Ssm.Application.Certificates;

namespace Ssm.Infrastructure.Certificates;

/// <summary>
/// Dual stack when an interface that is up has both a global IPv4 and a global IPv6 address, unless
/// configuration says otherwise (Node:DualStack = true/false).
/// </summary>
public sealed class HostAddresses(IConfiguration configuration) : IHostAddresses
{
    public bool DualStack => configuration.GetValue<bool?>("Node:DualStack") ?? Detect();

    private static bool Detect()
    {
        var addresses = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses.Select(a => a.Address))
            .ToList();
        return addresses.Any(a => a.AddressFamily == AddressFamily.InterNetwork)
               && addresses.Any(a => a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal && !a.IsIPv6SiteLocal);
    }
}
