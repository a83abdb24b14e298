using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Ssm.CscEmulator;

/// <summary>
/// `csc-emulator` (the stand-in for Cisco Software Central) and `csc-emulator approve|reject|offline` (its operator's verbs).
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

    /// <summary>Serves the emulator, or with a verb operates a running one.</summary>
    public static RootCommand Root()
    {
        var root = Serve();
        foreach (var verb in OperatorVerbs())
            root.Subcommands.Add(verb);
        return root;
    }

    private static RootCommand Serve()
    {
        var listen = new Option<string>("--listen") { Description = "https URL to serve on", DefaultValueFactory = _ => DefaultListen };
        var data = new Option<string>("--data") { Description = "folder for the root CA, state and catalogue", DefaultValueFactory = _ => ".data/csc" };
        var approval = new Option<string>("--approval") { Description = "auto: approve every activation at once; manual: leave it Pending", DefaultValueFactory = _ => "auto" };
        var lifetime = new Option<string>("--token-lifetime") { Description = "life of an access token, e.g. 180.00:00:00 or 00:00:03", DefaultValueFactory = _ => "180.00:00:00" };
        var command = new RootCommand("Serve a stand-in for Cisco Software Central (docs/csc-api.md); with a verb, operate a running one")
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

    private static IEnumerable<Command> OperatorVerbs()
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

        var requestFile = new Option<string>("--request") { Description = "the offline request file the node wrote" };
        var responseFile = new Option<string>("--out") { Description = "where to write the response file for the node" };
        var offline = new Command("offline", "Answer an offline request file with a response file (POST /csc/v1/offline)")
        {
            requestFile, responseFile, url, root, User, Password,
        };
        // Checked in the action rather than by the parser, whose errors exit with 1: a missing file is invalid input (2).
        offline.SetAction((parse, ct) => parse.GetValue(requestFile) is not { Length: > 0 } requestPath ? Task.FromResult(Invalid("--request FILE is required"))
            : parse.GetValue(responseFile) is not { Length: > 0 } responsePath ? Task.FromResult(Invalid("--out FILE is required"))
            : OfflineAsync(parse, url, root, requestPath, responsePath, ct));

        return [approve, reject, offline];
    }

    private static async Task<int> CallAsync(ParseResult parse, Option<string> url, Option<string> root, string path, object? body, CancellationToken ct)
    {
        var (exit, text) = await PostAsync(parse, url, root, path, JsonContent.Create(body ?? new { }, options: CscStore.Json), ct);
        if (exit != 0)
            return exit;
        var result = JsonSerializer.Deserialize<AdminActivationView>(text!, CscStore.Json)!;
        System.Console.WriteLine(result.Status switch
        {
            ActivationStatus.Approved => $"Request {result.RequestId} approved: account {result.Name} is {result.AccountId}.",
            ActivationStatus.Rejected => $"Request {result.RequestId} rejected: {result.Reason}",
            _ => $"Request {result.RequestId} is {result.Status}.",
        });
        return 0;
    }

    private static async Task<int> OfflineAsync(ParseResult parse, Option<string> url, Option<string> root, string requestPath, string responsePath,
        CancellationToken ct)
    {
        byte[] request;
        try
        {
            request = await File.ReadAllBytesAsync(requestPath, ct);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return Invalid($"--request {requestPath}: cannot read it ({ex.Message})");
        }
        var outDirectory = Path.GetDirectoryName(Path.GetFullPath(responsePath))!;
        if (!Directory.Exists(outDirectory))
            return Invalid($"--out {responsePath}: no folder {outDirectory}");

        var content = new ByteArrayContent(request);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var (exit, text) = await PostAsync(parse, url, root, "/csc/v1/offline", content, ct);
        if (exit != 0)
            return exit;
        try
        {
            CscCertificates.WriteAtomically(Path.GetFullPath(responsePath), text!, privateFile: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // CSC has processed the file: sending it again counts nothing twice and gives a response to write.
            return Invalid($"--out {responsePath}: cannot write it ({ex.Message}); fix that and run the same request again");
        }

        var response = JsonSerializer.Deserialize<OfflineResponseFile>(text!, CscStore.Json)!;
        var names = AccountNames(request);
        var accounts = string.Join(", ", response.Accounts.Select(a =>
            $"{names.GetValueOrDefault(a.LocalAccountId, a.LocalAccountId)} {a.Status}" + (a.Reason is null ? "" : $" ({a.Reason})")));
        var accepted = response.Accounts.Sum(a => a.Batch?.Accepted ?? 0);
        var duplicates = response.Accounts.Sum(a => a.Batch?.Duplicates ?? 0);
        System.Console.WriteLine($"Offline request {response.RequestId}: {accounts}; items {accepted} accepted, {duplicates} duplicates; "
            + $"certificate signed: {(response.Certificate is null ? "no" : "yes")}; response written to {responsePath}.");
        return 0;
    }

    /// <summary>The account names of the request file by localAccountId, for the summary (the response carries only the ids).</summary>
    private static Dictionary<string, string> AccountNames(byte[] request)
    {
        var file = JsonSerializer.Deserialize<OfflineRequestFile>(request, CscStore.Json);
        return (file?.Accounts ?? []).OfType<OfflineRequestAccount>()
            .Where(a => a.LocalAccountId is not null && !string.IsNullOrWhiteSpace(a.Name))
            .DistinctBy(a => a.LocalAccountId)
            .ToDictionary(a => a.LocalAccountId!, a => a.Name!);
    }

    /// <summary>Posts with operator credentials: (0, body) on success, else the exit code with the error printed.</summary>
    private static async Task<(int Exit, string? Body)> PostAsync(ParseResult parse, Option<string> url, Option<string> root, string path,
        HttpContent content, CancellationToken ct)
    {
        if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var baseAddress) || baseAddress.Scheme != Uri.UriSchemeHttps)
            return (Invalid("--csc must be the https URL of the emulator"), null);
        var rootPath = parse.GetValue(root)!;
        if (!File.Exists(rootPath))
            return (Invalid($"--csc-root {rootPath}: no such file (the emulator writes DATA/csc-root.pem)"), null);
        var password = parse.GetValue(Password);
        if (string.IsNullOrEmpty(password))
            return (Invalid($"no operator password: set {PasswordVariable} or pass --password"), null);

        using var trusted = X509CertificateLoader.LoadCertificateFromFile(rootPath);
        using var http = TrustingOnly(trusted, baseAddress);
        var credentials = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{parse.GetValue(User)}:{password}"));
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", credentials);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            System.Console.Error.WriteLine($"error: the CSC emulator at {baseAddress} does not answer ({ex.Message})");
            return (3, null);
        }
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            System.Console.Error.WriteLine($"error: {(int)response.StatusCode} {Problem(text)}");
            return (1, null);
        }
        return (0, text);
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
