namespace Ssm.Application.Ha;

/// <summary>What a node knows about itself from configuration (section "Node").</summary>
public sealed class NodeOptions
{
    public const string Section = "Node";

    public string Name { get; set; } = Environment.MachineName;
    public string Listen { get; set; } = "http://127.0.0.1:8443";
    public string DataDirectory { get; set; } = ".data";
    /// <summary>Where scheduled and "Back up now" backups are written (empty: backups/ under <see cref="DataDirectory"/>).</summary>
    public string BackupDirectory { get; set; } = "";
    /// <summary>Port of the HTTPS listener on the same address (0: none), presenting the certificate CSC signed.</summary>
    public int HttpsPort { get; set; }
    /// <summary>
    /// A second HTTPS port on the same address for products only (Smart Transport), as SSM On-Prem serves them on 443
    /// (devices are configured without a port); 0: none. The dashboard and the API toolkit stay on <see cref="HttpsPort"/>.
    /// </summary>
    public int ProductPort { get; set; }
    /// <summary>Port of the peer and console API on the same address: mutual TLS with cluster certificates only.</summary>
    public int PeerPort { get; set; } = 8444;

    /// <summary>Readies the document storage in the background after start (false, Node__WarmUp=false: benchmarks compare).</summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>Where the other node and the console verbs reach this node's peer and console API.</summary>
    public string PeerUrl => new UriBuilder(Listen) { Scheme = "https", Port = PeerPort, Path = "" }.Uri.ToString().TrimEnd('/');
}
