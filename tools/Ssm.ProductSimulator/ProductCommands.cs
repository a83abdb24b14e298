using System.CommandLine;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Ssm.Application.Registration;
using Ssm.Web.Endpoints;

namespace Ssm.ProductSimulator;

/// <summary>
/// `product-simulator register|renew|report|authorize|deregister`: a network product on Smart Transport, for demos,
/// tests and benchmarks. Exit codes: 0 done, 1 refused by the server, 2 invalid input, 3 server unreachable or not trusted.
/// </summary>
public static class ProductCommands
{
    private static readonly Option<string> Server = new("--server")
    {
        Description = "the server's HTTPS address, by its Host Common Name (the VIP); without a port it is 443, as devices are configured; "
                      + "a path (/Transportgateway/services/DeviceRequestHandler) is posted to as it is",
        DefaultValueFactory = _ => "https://127.0.0.14/",
    };

    private static readonly Option<string> Root = new("--csc-root")
    {
        Description = "PEM of the CSC root the product trusts",
        DefaultValueFactory = _ => ".data/csc/csc-root.pem",
    };

    private static readonly Option<string?> Serial = new("--sn") { Description = "serial number (also names the state file)" };
    private static readonly Option<string?> State = new("--state") { Description = "where the product keeps its identity (default .data/products/SN.json)" };
    private static readonly Option<bool> AsJson = new("--json") { Description = "print the server's answer as JSON" };

    public static IEnumerable<Command> Verbs()
    {
        var token = new Option<string?>("--token") { Description = "registration token" };
        var pid = new Option<string>("--pid") { Description = "product ID (UDI PID)", DefaultValueFactory = _ => "C9300-24T" };
        var name = new Option<string?>("--name") { Description = "product name (default: the serial number)" };
        var type = new Option<string>("--type") { Description = "product type", DefaultValueFactory = _ => "switch" };
        var force = new Option<bool>("--force") { Description = "replace an earlier registration of the same UDI" };
        var register = new Command("register", "Register with a registration token") { Server, Root, token, pid, Serial, name, type, force, State, AsJson };
        register.SetAction((parse, ct) => parse.GetValue(token) is not { Length: > 0 } t ? Task.FromResult(Invalid("--token is required"))
            : parse.GetValue(Serial) is not { Length: > 0 } sn ? Task.FromResult(Invalid("--sn is required"))
            : RunAsync(parse, parse.GetValue(Server)!, async client =>
            {
                var identity = await client.RegisterAsync(t, parse.GetValue(pid)!, sn, parse.GetValue(name) ?? sn, parse.GetValue(type)!,
                    force: parse.GetValue(force), cancellationToken: ct);
                var path = StatePath(parse, sn);
                Save(path, identity);
                return (identity, $"Registered {identity.Pid}:{identity.SerialNumber} as instance {identity.InstanceId}; ID certificate valid until {identity.NotAfter:u}, renew after {identity.RenewAfter:u}; identity kept in {path}.");
            }));

        var renew = new Command("renew", "Renew the ID certificate") { Serial, State, Root, AsJson };
        renew.SetAction((parse, ct) => WithIdentityAsync(parse, async (client, identity, path) =>
        {
            var renewed = await client.RenewAsync(identity, ct);
            Save(path, renewed);
            return (renewed, $"Renewed the ID certificate of {identity.InstanceId}: valid until {renewed.NotAfter:u}.");
        }));

        var tag = new Option<string>("--tag") { Description = "license tag", DefaultValueFactory = _ => "regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40" };
        var count = new Option<int>("--count") { Description = "licenses in use", DefaultValueFactory = _ => 1 };
        var reportId = new Option<string?>("--report-id") { Description = "report id (default: a new one); sending the same again is a replay" };
        var minutes = new Option<int>("--window") { Description = "minutes the report covers, ending now", DefaultValueFactory = _ => 60 };
        var report = new Command("report", "Report license usage (a RUM report)") { Serial, State, Root, tag, count, reportId, minutes, AsJson };
        report.SetAction((parse, ct) => WithIdentityAsync(parse, async (client, identity, _) =>
        {
            var now = DateTimeOffset.UtcNow;
            var id = parse.GetValue(reportId) ?? $"r-{Guid.CreateVersion7():N}";
            var answer = await client.ReportAsync(identity,
                [new UsageReport(id, parse.GetValue(tag)!, parse.GetValue(count), now.AddMinutes(-Math.Max(1, parse.GetValue(minutes))), now)], ct);
            return (answer, $"Report {id} accepted: {parse.GetValue(count)} x {parse.GetValue(tag)}.");
        }));

        var authorize = new Command("authorize", "Ask whether licenses are available") { Serial, State, Root, tag, count, AsJson };
        authorize.SetAction((parse, ct) => WithIdentityAsync(parse, async (client, identity, _) =>
        {
            var answer = await client.AuthorizeAsync(identity, [new EntitlementRequest(parse.GetValue(tag)!, parse.GetValue(count))], ct);
            var lines = answer.GetProperty("entitlements").EnumerateArray().Select(e =>
                $"{e.GetProperty("tag").GetString()}: {(e.GetProperty("authorized").GetBoolean() ? "authorized" : "NOT authorized")} "
                + $"({e.GetProperty("requested").GetInt32()} asked, {e.GetProperty("available").GetInt32()} available)");
            return (answer, string.Join(Environment.NewLine, lines));
        }));

        var deregister = new Command("deregister", "Deregister the product") { Serial, State, Root, AsJson };
        deregister.SetAction((parse, ct) => WithIdentityAsync(parse, async (client, identity, path) =>
        {
            var answer = await client.DeregisterAsync(identity, ct);
            File.Delete(path);
            return (answer, $"Deregistered instance {identity.InstanceId}.");
        }));

        return [register, renew, report, authorize, deregister];
    }

    private static string StatePath(ParseResult parse, string serial) =>
        parse.GetValue(State) is { Length: > 0 } path ? path : Path.Combine(".data", "products", $"{serial}.json");

    private static void Save(string path, ProductIdentity identity)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(identity, SmartTransportEndpoints.Json),
            new System.Text.UTF8Encoding(false));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, path, overwrite: true);
    }

    private static Task<int> WithIdentityAsync(ParseResult parse, Func<ProductClient, ProductIdentity, string, Task<(object Answer, string Text)>> action)
    {
        if (parse.GetValue(State) is not { Length: > 0 } && parse.GetValue(Serial) is not { Length: > 0 })
            return Task.FromResult(Invalid("name the product: --sn SN or --state FILE"));
        var path = StatePath(parse, parse.GetValue(Serial) ?? "");
        ProductIdentity? identity;
        try
        {
            identity = JsonSerializer.Deserialize<ProductIdentity>(File.ReadAllText(path), SmartTransportEndpoints.Json);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return Task.FromResult(Invalid($"{path}: no product identity there ({ex.Message}); register first"));
        }
        if (identity is null)
            return Task.FromResult(Invalid($"{path}: empty"));
        return RunAsync(parse, identity.Server, client => action(client, identity, path));
    }

    private static async Task<int> RunAsync(ParseResult parse, string server, Func<ProductClient, Task<(object Answer, string Text)>> action)
    {
        if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
            return Invalid("--server must be an https URL, e.g. https://127.0.0.14/");
        var rootPath = parse.GetValue(Root)!;
        if (!File.Exists(rootPath))
            return Invalid($"--csc-root {rootPath}: no such file (the CSC emulator writes it into its data folder)");
        using var root = X509CertificateLoader.LoadCertificateFromFile(rootPath);
        using var client = new ProductClient(uri, root);
        try
        {
            var (answer, text) = await action(client);
            System.Console.WriteLine(parse.GetValue(AsJson) ? JsonSerializer.Serialize(answer, SmartTransportEndpoints.Json) : text);
            return 0;
        }
        catch (ProductRefusedException refused)
        {
            System.Console.Error.WriteLine($"refused: {refused.Code} ({refused.Status}): {refused.Reason}");
            return 1;
        }
        catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException)
        {
            System.Console.Error.WriteLine($"error: {uri.Host} did not present a certificate signed by the CSC root for that name: {ex.InnerException.Message}");
            return 3;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            System.Console.Error.WriteLine($"error: {uri} is unreachable: {ex.Message}");
            return 3;
        }
    }

    private static int Invalid(string message)
    {
        System.Console.Error.WriteLine($"error: {message}");
        return 2;
    }
}
