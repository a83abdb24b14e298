using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// This node's certificate from the cluster CA, issued afresh at every start (so a rotated CA or a changed address
/// needs only a restart): the peer port presents it, peer calls and PostgreSQL replication log in with it, its
/// PostgreSQL serves it. Written to DATA/tls (0600 files in a 0700 folder); the private key never leaves the node.
/// </summary>
public sealed class NodeCertificate
{
    public NodeCertificate(IOptions<HaOptions> ha, IOptions<NodeOptions> node)
    {
        Credentials = ClusterCredentials.Load(ha.Value.KeysDirectory);
        var listenHost = new Uri(node.Value.Listen).Host.Trim('[', ']');
        var hosts = new[] { listenHost, ha.Value.DatabaseHost ?? listenHost };
        var addresses = hosts.Select(h => IPAddress.TryParse(h, out var ip) ? ip : null).OfType<IPAddress>().ToList();
        var names = hosts.Where(h => !IPAddress.TryParse(h, out _)).Append(node.Value.Name).ToList();
        Certificate = Credentials.Issue(node.Value.Name, ClusterCredentials.NodeRole, addresses, names, TimeSpan.FromDays(397));
        Folder = Path.Combine(Path.GetFullPath(node.Value.DataDirectory), "tls");
        Directory.CreateDirectory(Folder);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(Folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        ClusterCredentials.WriteCertificate(Certificate, CertificatePath, KeyPath);
    }

    public ClusterCredentials Credentials { get; }
    public X509Certificate2 Certificate { get; }
    public string Folder { get; }
    public string CertificatePath => Path.Combine(Folder, "node.crt");
    public string KeyPath => Path.Combine(Folder, "node.key");
}
