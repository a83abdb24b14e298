using System.CommandLine;
using Ssm.Web.Hosting;

namespace Ssm.Web.Console;

/// <summary>`ssm node`: serve this node until Ctrl-C or SIGTERM.</summary>
public static class NodeCommands
{
    public static readonly Option<string?> Database = new("--db")
    {
        Description = "PostgreSQL connection string of this node's database (else ConnectionStrings:Ssm)",
    };

    public static Command Node()
    {
        var name = new Option<string?>("--name") { Description = "Node name shown on the dashboard" };
        var listen = new Option<string?>("--listen") { Description = "Listen URL (HTTP: health; its address is also the HTTPS and peer ports'), e.g. http://127.0.0.1:8080" };
        var data = new Option<string?>("--data") { Description = "Folder for this node's local files" };
        var manage = new Option<bool>("--manage-db") { Description = "Run and control this node's own PostgreSQL in DATA/pg (needed for a cluster)" };
        var pgPort = new Option<int?>("--pg-port") { Description = "Port of this node's own PostgreSQL (default 5432)" };
        var keys = new Option<string?>("--cluster-keys") { Description = "Folder from ha_generate_keys (the cluster CA); needed with --manage-db" };
        var peerPort = new Option<int?>("--peer-port") { Description = "Port of the peer and console API, mutual TLS (default 8444)" };
        var witness = new Option<string?>("--witness") { Description = "Witness PostgreSQL connection string (TLS verified; without a password the node logs in by certificate)" };
        var heartbeat = new Option<int?>("--heartbeat-ms") { Description = "Heartbeat interval (default 200)" };
        var timeout = new Option<int?>("--failover-timeout-ms") { Description = "Silence after which the standby takes over (default 1000)" };
        var vipProvider = new Option<string?>("--vip-provider") { Description = "loopback, ip or external" };
        var vipInterface = new Option<string?>("--vip-interface") { Description = "Interface the ip provider adds the VIP to (default eth0)" };
        var httpsPort = new Option<int?>("--https-port") { Description = "HTTPS port on the listen address, presenting the certificate CSC signed for the Host Common Name" };
        var productPort = new Option<int?>("--product-port") { Description = "A second HTTPS port for products only (Smart Transport), 443 as SSM On-Prem; default none" };
        var csc = new Option<string?>("--csc") { Description = "Cisco Software Central base URL, e.g. https://127.0.0.15:9443 (the emulator)" };
        var cscRoot = new Option<string?>("--csc-root") { Description = "PEM file of the CSC root CA to trust (the emulator's DATA/csc-root.pem)" };
        var command = new Command("node", "Serve this node: dashboard, APIs, health and metrics")
        {
            name, listen, data, Database, manage, pgPort, keys, peerPort, witness, heartbeat, timeout, vipProvider, vipInterface, httpsPort, productPort, csc, cscRoot,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = new Dictionary<string, string?>();
            AddIfSet(overrides, "Node:Name", parse.GetValue(name));
            AddIfSet(overrides, "Node:Listen", parse.GetValue(listen));
            AddIfSet(overrides, "Node:DataDirectory", parse.GetValue(data));
            AddIfSet(overrides, "ConnectionStrings:Ssm", parse.GetValue(Database));
            if (parse.GetValue(manage))
                overrides["Cluster:ManageDatabase"] = "true";
            AddIfSet(overrides, "Cluster:DatabasePort", parse.GetValue(pgPort)?.ToString());
            AddIfSet(overrides, "Cluster:KeysDirectory", parse.GetValue(keys));
            AddIfSet(overrides, "Node:PeerPort", parse.GetValue(peerPort)?.ToString());
            AddIfSet(overrides, "Cluster:Witness", parse.GetValue(witness));
            AddIfSet(overrides, "Cluster:HeartbeatIntervalMs", parse.GetValue(heartbeat)?.ToString());
            AddIfSet(overrides, "Cluster:FailoverTimeoutMs", parse.GetValue(timeout)?.ToString());
            AddIfSet(overrides, "Cluster:VipProvider", parse.GetValue(vipProvider));
            AddIfSet(overrides, "Cluster:VipInterface", parse.GetValue(vipInterface));
            AddIfSet(overrides, "Node:HttpsPort", parse.GetValue(httpsPort)?.ToString());
            AddIfSet(overrides, "Node:ProductPort", parse.GetValue(productPort)?.ToString());
            AddIfSet(overrides, "Csc:Url", parse.GetValue(csc));
            AddIfSet(overrides, "Csc:RootCertificate", parse.GetValue(cscRoot));
            Microsoft.AspNetCore.Builder.WebApplication app;
            try
            {
                app = NodeHost.Build(overrides);
            }
            catch (Ssm.Infrastructure.Ha.ClusterCredentialsException ex)
            {
                System.Console.Error.WriteLine($"error: {ex.Message}");
                return 2;
            }
            await app.RunAsync();
            return 0;
        });
        return command;
    }

    public static void AddIfSet(IDictionary<string, string?> overrides, string key, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value))
            overrides[key] = value;
    }
}
