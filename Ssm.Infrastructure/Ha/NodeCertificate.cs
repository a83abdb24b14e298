using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// This node's certificate from the cluster CA, issued at start and again whenever the keys folder names another
/// signing CA (a rotation, decision 0018): the peer port presents it, peer calls and PostgreSQL replication log in
/// with it, its PostgreSQL serves it. Written to DATA/tls (0600 files in a 0700 folder); the private key never
/// leaves the node. The CAs it trusts follow ca.crt as it changes, without a restart.
/// </summary>
public sealed class NodeCertificate
{
    private readonly NodeOptions _node;
    private readonly List<IPAddress> _addresses;
    private readonly List<string> _names;
    private readonly string _keys;
    private readonly Lock _lock = new();
    private (DateTime Authorities, DateTime Issuer) _loaded;
    private volatile ClusterCredentials _credentials;
    private volatile X509Certificate2 _certificate;

    public NodeCertificate(IOptions<HaOptions> ha, IOptions<NodeOptions> node)
    {
        _node = node.Value;
        _keys = ha.Value.KeysDirectory ?? "";
        var listenHost = new Uri(_node.Listen).Host.Trim('[', ']');
        var hosts = new[] { listenHost, ha.Value.DatabaseHost ?? listenHost };
        _addresses = hosts.Select(h => IPAddress.TryParse(h, out var ip) ? ip : null).OfType<IPAddress>().Distinct().ToList();
        _names = hosts.Where(h => !IPAddress.TryParse(h, out _)).Append(_node.Name).Distinct().ToList();
        Folder = Path.Combine(Path.GetFullPath(_node.DataDirectory), "tls");
        Directory.CreateDirectory(Folder);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(Folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _loaded = Stamps();
        _credentials = ClusterCredentials.Load(_keys);
        _certificate = IssueOwn(_credentials);
    }

    public ClusterCredentials Credentials => _credentials;
    public X509Certificate2 Certificate => _certificate;
    public string Folder { get; }
    public string CertificatePath => Path.Combine(Folder, "node.crt");
    public string KeyPath => Path.Combine(Folder, "node.key");

    private X509Certificate2 IssueOwn(ClusterCredentials credentials)
    {
        var certificate = credentials.Issue(_node.Name, ClusterCredentials.NodeRole, _addresses, _names, TimeSpan.FromDays(397));
        ClusterCredentials.WriteCertificate(certificate, CertificatePath, KeyPath);
        return certificate;
    }

    private (DateTime, DateTime) Stamps()
    {
        var folder = Path.GetFullPath(string.IsNullOrWhiteSpace(_keys) ? "." : _keys);
        return (File.GetLastWriteTimeUtc(Path.Combine(folder, ClusterCredentials.AuthoritiesFile)),
            File.GetLastWriteTimeUtc(Path.Combine(folder, ClusterCredentials.IssuerKeyFile)));
    }

    /// <summary>
    /// Reads the keys folder again if it changed. True when what this node trusts or presents changed: the trusted
    /// CAs, and (if another CA signs now) its own certificate. A half-written or broken folder keeps the old state.
    /// </summary>
    public bool Refresh(out string change)
    {
        change = "";
        lock (_lock)
        {
            var stamps = Stamps();
            if (stamps == _loaded)
                return false;
            ClusterCredentials fresh;
            try
            {
                fresh = ClusterCredentials.Load(_keys);
            }
            catch (ClusterCredentialsException ex)
            {
                change = $"keys folder changed but not usable yet: {ex.Message}";
                return false;
            }
            _loaded = stamps;
            var trusted = string.Join(",", fresh.Authorities.Select(a => a.Thumbprint));
            var before = string.Join(",", _credentials.Authorities.Select(a => a.Thumbprint));
            var reissue = fresh.Fingerprint != _credentials.Fingerprint;
            if (trusted == before && !reissue)
                return false;
            _credentials = fresh;
            if (reissue)
                _certificate = IssueOwn(fresh);
            change = $"now trusting {fresh.Authorities.Count} cluster CA(s)" + (reissue ? $", own certificate issued by the CA {fresh.Fingerprint[..16]}…" : "");
            return true;
        }
    }
}
