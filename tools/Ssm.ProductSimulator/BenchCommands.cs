using System.CommandLine;

namespace Ssm.ProductSimulator;

/// <summary>
/// `product-simulator bench products`: the load driver of bench/products.sh. It needs ECDSA request signing and the
/// node's own Marten set-up, which is why it is C# and not part of the Python driver. Report on stdout, progress on stderr.
/// </summary>
public static class BenchCommands
{
    public static Command Bench()
    {
        var server = new Option<string>("--server") { Description = "Smart Transport address through the VIP, e.g. https://127.0.92.14:8443/", Required = true };
        var direct = new Option<string?>("--direct") { Description = "the active node's own HTTPS address (baseline without the VIP relay)" };
        var root = new Option<string>("--csc-root") { Description = "PEM of the CSC root the products trust", Required = true };
        var token = new Option<string>("--token") { Description = "registration token (no use limit)", Required = true };
        var db = new Option<string>("--db") { Description = "connection string of the active node's PostgreSQL", Required = true };
        var api = new Option<string?>("--api") { Description = "the dashboard's HTTPS address through the VIP, for the page (admin password from SSM_ADMIN_PASSWORD)" };
        var count = new Option<int>("--count") { Description = "registrations (and raw inserts)", DefaultValueFactory = _ => 20_000 };
        var concurrency = new Option<int>("--concurrency") { Description = "requests in flight", DefaultValueFactory = _ => 64 };
        var reportRequests = new Option<int>("--report-requests") { Description = "usage report requests", DefaultValueFactory = _ => 20_000 };
        var perRequest = new Option<int>("--reports-per-request") { Description = "usage reports in each request", DefaultValueFactory = _ => 10 };
        var instances = new Option<int>("--instances") { Description = "product instances in the table for the page query (0: skip)", DefaultValueFactory = _ => 1_000_000 };
        var nodePid = new Option<int?>("--node-pid") { Description = "pid of the active node (memory)" };
        var watch = new Option<string[]>("--watch") { Description = "NAME=PID whose CPU time (with its children) is reported per phase", AllowMultipleArgumentsPerToken = true };
        var products = new Command("products", "Registrations, usage reports and the product instances page under load (bench/products.sh)")
        {
            server, direct, root, token, db, api, count, concurrency, reportRequests, perRequest, instances, nodePid, watch,
        };
        products.SetAction(async (parse, cancellationToken) =>
        {
            var watched = new List<(string, int)>();
            foreach (var item in parse.GetValue(watch) ?? [])
            {
                var parts = item.Split('=', 2);
                if (parts.Length != 2 || !int.TryParse(parts[1], out var pid))
                {
                    System.Console.Error.WriteLine($"error: --watch {item}: expected NAME=PID");
                    return 2;
                }
                watched.Add((parts[0], pid));
            }
            var settings = new ProductBench.Settings(new Uri(parse.GetValue(server)!), parse.GetValue(direct) is { } d ? new Uri(d) : null,
                parse.GetValue(root)!, parse.GetValue(token)!, parse.GetValue(db)!, parse.GetValue(api) is { } a ? new Uri(a) : null,
                Math.Max(1, parse.GetValue(count)), Math.Max(1, parse.GetValue(concurrency)), Math.Max(0, parse.GetValue(reportRequests)),
                Math.Clamp(parse.GetValue(perRequest), 1, 100), Math.Max(0, parse.GetValue(instances)), parse.GetValue(nodePid), watched,
                Environment.GetEnvironmentVariable(Ssm.Web.Security.FirstAdmin.PasswordVariable));
            return await new ProductBench(settings).RunAsync(cancellationToken);
        });
        return new Command("bench", "Load drivers of the benchmarks in bench/") { products };
    }
}
