using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Ssm.Web.Emulator;

namespace Ssm.Web.Console;

/// <summary>
/// `ssm csc-emulator` (the stand-in for Cisco Software Central) and `ssm csc approve|reject` (its operator's verbs).
/// Exit codes: 0 done, 1 refused or not found, 2 invalid input, 3 emulator unreachable.
/// </summary>
public static class CscCommands
{
    public const string DefaultListen = "https://127.0.0.15:9443";
    public const string PasswordVariable = "CSC_OPERATOR_PASSWORD";

    private static readonly Option<string> User = new("--user")
    {
        Description = "operator user",
        DefaultValueFactory = _ => "csc-operator",
    };

    private static readonly Option<string?> Password = new("--password")
    {
        Description = $"operator password (env {PasswordVariable})",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(PasswordVariable),
    };

    public static IEnumerable<Command> All()
    {
        yield return Emulator();
        yield return Csc();
    }

    private static Command Emulator()
    {
        var listen = new Option<string>("--listen") { Description = "https URL to serve on", DefaultValueFactory = _ => DefaultListen };
        var data = new Option<string>("--data") { Description = "folder for the root CA, state and catalogue", DefaultValueFactory = _ => ".data/csc" };
        var approval = new Option<string>("--approval") { Description = "auto: approve every activation at once; manual: leave it Pending", DefaultValueFactory = _ => "auto" };
        var lifetime = new Option<string>("--token-lifetime") { Description = "life of an access token, e.g. 180.00:00:00 or 00:00:03", DefaultValueFactory = _ => "180.00:00:00" };
        var command = new Command("csc-emulator", "Serve a stand-in for Cisco Software Central (docs/csc-api.md)")
        {
            listen, data, approval, lifetime, User, Password,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!Uri.TryCreate(parse.GetValue(listen), UriKind.Absolute, out var listenUri) || listenUri.Scheme != Uri.UriSchemeHttps
                || listenUri.AbsolutePath != "/" || listenUri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6 or UriHostNameType.Dns))
                return Invalid($"--listen must be an https URL of a host and port, e.g. {DefaultListen}");
            var mode = parse.GetValue(approval);
            if (mode is not ("auto" or "manual"))
                return Invalid("--approval must be auto or manual");
            if (!TimeSpan.TryParse(parse.GetValue(lifetime), CultureInfo.InvariantCulture, out var tokenLifetime) || tokenLifetime <= TimeSpan.Zero)
                return Invalid("--token-lifetime must be a positive time span, e.g. 180.00:00:00 (days.hh:mm:ss) or 00:00:03");
            var user = parse.GetValue(User);
            if (string.IsNullOrWhiteSpace(user))
                return Invalid("--user must not be empty");
            var password = parse.GetValue(Password);
            if (string.IsNullOrEmpty(password))
                return Invalid($"no operator password: set {PasswordVariable} or pass --password");

            var options = new CscEmulatorOptions(listenUri, Path.GetFullPath(parse.GetValue(data)!), mode == "auto", tokenLifetime, user, password);
            WebApplication app;
            try
            {
                app = CscEmulatorHost.Build(options);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or InvalidOperationException)
            {
                System.Console.Error.WriteLine($"error: cannot start the CSC emulator: {ex.Message}");
                return 1;
            }
            await app.RunAsync();
            return 0;
        });
        return command;
    }

    private static Command Csc()
    {
        var url = new Option<string>("--csc") { Description = "URL of the CSC emulator", DefaultValueFactory = _ => DefaultListen };
        var root = new Option<string>("--csc-root") { Description = "PEM of the CSC root to trust", DefaultValueFactory = _ => ".data/csc/csc-root.pem" };

        var approveId = new Argument<string>("REQUEST-ID") { Description = "the activation request to approve" };
        var approve = new Command("approve", "Approve a pending activation request") { approveId, url, root, User, Password };
        approve.SetAction((parse, ct) => CallAsync(parse, url, root,
            $"/csc/v1/admin/activations/{Uri.EscapeDataString(parse.GetValue(approveId)!)}/approve", null, ct));

        var rejectId = new Argument<string>("REQUEST-ID") { Description = "the activation request to reject" };
        var reason = new Option<string>("--reason") { Description = "why (shown to the on-prem operator)", Required = true };
        var reject = new Command("reject", "Reject a pending activation request") { rejectId, reason, url, root, User, Password };
        reject.SetAction((parse, ct) => CallAsync(parse, url, root,
            $"/csc/v1/admin/activations/{Uri.EscapeDataString(parse.GetValue(rejectId)!)}/reject", new RejectBody(parse.GetValue(reason)), ct));

        return new Command("csc", "Operate the CSC emulator: approve or reject activation requests") { approve, reject };
    }

    private static async Task<int> CallAsync(ParseResult parse, Option<string> url, Option<string> root, string path, object? body, CancellationToken ct)
    {
        if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var baseAddress) || baseAddress.Scheme != Uri.UriSchemeHttps)
            return Invalid("--csc must be the https URL of the emulator");
        var rootPath = parse.GetValue(root)!;
        if (!File.Exists(rootPath))
            return Invalid($"--csc-root {rootPath}: no such file (the emulator writes DATA/csc-root.pem)");
        var password = parse.GetValue(Password);
        if (string.IsNullOrEmpty(password))
            return Invalid($"no operator password: set {PasswordVariable} or pass --password");

        using var trusted = X509CertificateLoader.LoadCertificateFromFile(rootPath);
        using var http = TrustingOnly(trusted, baseAddress);
        var credentials = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{parse.GetValue(User)}:{password}"));
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body ?? new { }, options: CscStore.Json) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", credentials);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            System.Console.Error.WriteLine($"error: the CSC emulator at {baseAddress} does not answer ({ex.Message})");
            return 3;
        }
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            System.Console.Error.WriteLine($"error: {(int)response.StatusCode} {Problem(text)}");
            return 1;
        }
        var result = JsonSerializer.Deserialize<AdminActivationView>(text, CscStore.Json)!;
        System.Console.WriteLine(result.Status switch
        {
            ActivationStatus.Approved => $"Request {result.RequestId} approved: account {result.Name} is {result.AccountId}.",
            ActivationStatus.Rejected => $"Request {result.RequestId} rejected: {result.Reason}",
            _ => $"Request {result.RequestId} is {result.Status}.",
        });
        return 0;
    }

    /// <summary>An HTTPS client that trusts only the given root, host name checked.</summary>
    public static HttpClient TrustingOnly(X509Certificate2 root, Uri baseAddress)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(root);
        var handler = new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy } };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    private static string Problem(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var title = document.RootElement.TryGetProperty("title", out var t) ? t.GetString() : null;
            var code = document.RootElement.TryGetProperty("code", out var c) ? c.GetString() : null;
            return title is null ? text : $"{title} ({code})";
        }
        catch (JsonException)
        {
            return text;
        }
    }

    private static int Invalid(string message)
    {
        System.Console.Error.WriteLine($"error: {message}");
        return 2;
    }
}
