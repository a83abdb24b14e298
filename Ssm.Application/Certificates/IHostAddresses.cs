namespace Ssm.Application.Certificates;

/// <summary>What the node knows about its own addresses: with both IPv4 and IPv6 the Host Common Name must be an FQDN.</summary>
public interface IHostAddresses
{
    bool DualStack { get; }
}
