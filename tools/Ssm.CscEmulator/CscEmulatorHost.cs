using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Serilog;
using Serilog.Events;

namespace Ssm.CscEmulator;

public sealed record CscEmulatorOptions(Uri Listen, string DataDirectory, bool AutoApprove, TimeSpan TokenLifetime, string User, string Password);

/// <summary>
/// `ssm csc-emulator`: the stand-in for Cisco Software Central. A plain minimal-API host, separate from the
/// node (no Mediator, Marten or Blazor): it plays the external cloud service of docs/csc-api.md.
/// </summary>
public static partial class CscEmulatorHost
{
    public const long BodyLimit = 1024 * 1024;
    public const long UploadLimit = 64L * 1024 * 1024;

    public static WebApplication Build(CscEmulatorOptions options)
    {
        Directory.CreateDirectory(options.DataDirectory);
        var certificates = CscCertificates.LoadOrCreate(options.DataDirectory);
        var catalogue = new CscCatalogue(options.DataDirectory);
        var serverCertificate = certificates.CreateServerCertificate(options.Listen.DnsSafeHost);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = BodyLimit;
            foreach (var address in ListenAddresses(options.Listen.DnsSafeHost))
                kestrel.Listen(address, options.Listen.Port, listen => listen.UseHttps(serverCertificate));
        });
        builder.Services.AddSerilog(log => log
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} [csc] {Message:lj}{NewLine}{Exception}"));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(certificates);
        builder.Services.AddSingleton(catalogue);
        builder.Services.AddSingleton(new CscStore(options.DataDirectory, options.TokenLifetime));
        builder.Services.AddSingleton<CscPage>();

        var app = builder.Build();
        app.UseSerilogRequestLogging(logging =>
        {
            logging.MessageTemplate = "{RequestMethod} {Path} {StatusCode} {Code} in {Elapsed:0} ms";
            logging.EnrichDiagnosticContext = (context, http) =>
            {
                context.Set("Path", CapabilityInPath().Replace(http.Request.Path.Value ?? "", "$1…"));
                context.Set("Code", http.Items["csc.code"] ?? "");
            };
        });
        app.Use(AnswerErrorsAsProblems);
        CscEndpoints.Map(app);
        CscPage.Map(app);
        app.MapFallback(http =>
        {
            http.Items["csc.code"] = "not_found";
            return CscError.NotFound("no such call").ToResult().ExecuteAsync(http);
        });

        app.Lifetime.ApplicationStarted.Register(() => app.Logger.LogInformation(
            "CSC emulator on {Listen}: approval {Approval}, token lifetime {Lifetime}, root {Root}",
            options.Listen, options.AutoApprove ? "auto" : "manual", options.TokenLifetime, Path.Combine(options.DataDirectory, "csc-root.pem")));
        return app;
    }

    // A request id is a capability: the console shows only its first characters.
    [GeneratedRegex("(/activations/r-[0-9a-f]{4})[0-9a-f]+")]
    private static partial Regex CapabilityInPath();

    private static IEnumerable<IPAddress> ListenAddresses(string host)
    {
        if (IPAddress.TryParse(host, out var address))
            return [address];
        return host == "localhost" ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : Dns.GetHostAddresses(host);
    }

    private static async Task AnswerErrorsAsProblems(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http);
        }
        catch (Exception ex) when (AsError(http, ex) is { } error && !http.Response.HasStarted)
        {
            http.Items["csc.code"] = error.Code;
            if (error.Code == "bad_credentials")
                http.Response.Headers.WWWAuthenticate = "Basic realm=\"csc-emulator\", charset=\"UTF-8\"";
            await error.ToResult().ExecuteAsync(http);
        }
    }

    private static bool TakesUploads(string path) =>
        path.Contains("/uploads/", StringComparison.Ordinal) || path is "/csc/v1/offline" or "/page/offline";

    private static CscError? AsError(HttpContext http, Exception ex) => ex switch
    {
        CscError error => error,
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
            CscError.TooLarge(TakesUploads(http.Request.Path.Value ?? "") ? UploadLimit : BodyLimit),
        BadHttpRequestException bad => CscError.Invalid($"body: {bad.Message}"),
        JsonException json => CscError.Invalid($"body: malformed JSON ({json.Message})"),
        _ => null,
    };
}
