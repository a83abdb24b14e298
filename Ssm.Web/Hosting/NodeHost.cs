using System.Net;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using MudBlazor.Services;
using OpenTelemetry.Metrics;
using Serilog;
using Serilog.Formatting.Compact;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Certificates;
using Ssm.Infrastructure.Ha;
using Ssm.Infrastructure.Persistence;
using Ssm.Web.Components;
using Ssm.Web.Endpoints;
using Ssm.Web.Security;

namespace Ssm.Web.Hosting;

/// <summary>`ssm node`: one node of the product, serving the dashboard and its APIs.</summary>
public static class NodeHost
{
    public const long MaxRequestBodyBytes = 1024 * 1024;
    public const int DefaultHttpsPort = 8443;

    /// <summary>A connection the loopback VIP relays gets the address of the client behind it (rate limits, logs).</summary>
    private static ConnectionDelegate RestoreRelayedClient(ConnectionDelegate next) => connection =>
    {
        if (RelayedClients.ClientOf(connection.RemoteEndPoint) is { } client)
            connection.RemoteEndPoint = client;
        return next(connection);
    };

    public static WebApplication Build(IDictionary<string, string?> overrides)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Configuration.AddInMemoryCollection(overrides);
        var node = builder.Configuration.GetSection(NodeOptions.Section).Get<NodeOptions>() ?? new NodeOptions();
        // The dashboard and the APIs are served over HTTPS only, so every node has an HTTPS port.
        if (node.HttpsPort <= 0)
        {
            node.HttpsPort = DefaultHttpsPort;
            builder.Configuration.AddInMemoryCollection([new($"{NodeOptions.Section}:{nameof(NodeOptions.HttpsPort)}", DefaultHttpsPort.ToString())]);
        }

        builder.WebHost.UseStaticWebAssets();
        // With the ip provider the VIP arrives on this host's interface: listen on every address of the port.
        var ha = builder.Configuration.GetSection(HaOptions.Section).Get<HaOptions>() ?? new HaOptions();
        // No fallback secret: a node that runs its own database for a cluster refuses to start without the cluster CA.
        if (ha.ManageDatabase)
            ClusterCredentials.Load(ha.KeysDirectory);
        // A node restarted after a crash replays its database's WAL while the host builds and starts (decision 0015).
        builder.Services.AddSingleton(CrashRecovery.Start(node, ha));
        var listen = new Uri(node.Listen);
        if (listen.Port == node.HttpsPort)
            throw new InvalidOperationException($"The HTTPS port ({node.HttpsPort}) must differ from the --listen port: pass --https-port.");
        if (ha.ManageDatabase && (node.PeerPort == listen.Port || node.PeerPort == node.HttpsPort))
            throw new InvalidOperationException($"The peer port ({node.PeerPort}) must differ from the HTTP and HTTPS ports: pass --peer-port.");
        if (node.ProductPort > 0 && (node.ProductPort == listen.Port || node.ProductPort == node.HttpsPort || (ha.ManageDatabase && node.ProductPort == node.PeerPort)))
            throw new InvalidOperationException($"The product port ({node.ProductPort}) must differ from the HTTP, HTTPS and peer ports.");
        var address = ha.VipProvider == "ip" ? IPAddress.Any
            : IPAddress.TryParse(listen.Host.Trim('[', ']'), out var ip) ? ip : IPAddress.Loopback;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // The peer and console API: mutual TLS, a cluster certificate or no TLS session at all (decision 0018).
            if (ha.ManageDatabase)
                kestrel.Listen(address, node.PeerPort, peer => peer.UseHttps(new HttpsConnectionAdapterOptions
                {
                    // Read at each handshake: a rotation of the cluster CA gives the node a new certificate without a restart.
                    ServerCertificateSelector = (_, _) => kestrel.ApplicationServices.GetRequiredService<NodeCertificate>().Certificate,
                    SslProtocols = System.Security.Authentication.SslProtocols.Tls13,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    ClientCertificateValidation = (certificate, _, _) =>
                        kestrel.ApplicationServices.GetRequiredService<NodeCertificate>().Credentials.Verify(certificate, null, out _),
                }));
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes;
            kestrel.Listen(address, listen.Port, http => http.Use(RestoreRelayedClient));
            // HTTPS with the certificate CSC signed for the Host Common Name (self-signed until then); the product port
            // presents the same certificate, so the Host Common Name rule reads the same on both.
            foreach (var port in node.ProductPort > 0 ? [node.HttpsPort, node.ProductPort] : new[] { node.HttpsPort })
                kestrel.Listen(address, port, https =>
                {
                    https.Use(RestoreRelayedClient);
                    https.UseHttps(options =>
                    {
                        var certificates = kestrel.ApplicationServices.GetRequiredService<ServerCertificateProvider>();
                        options.ServerCertificateSelector = (_, _) => certificates.Current;
                    });
                });
        });

        builder.Services.AddSerilog(log =>
        {
            log.ReadFrom.Configuration(builder.Configuration).Enrich.FromLogContext().Enrich.WithProperty("Node", node.Name);
            if (builder.Configuration.GetValue<bool>("Logging:Json"))
                log.WriteTo.Console(new RenderedCompactJsonFormatter());
            else
                log.WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} [{Node}] {Message:lj}{NewLine}{Exception}");
        });

        builder.Services.AddSsmCore(builder.Configuration);
        builder.Services.AddHostedService<FirstAdmin>();
        AddSecurity(builder.Services);
        builder.Services.AddApiTokenAuthentication();
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        builder.Services.AddExceptionHandler<ErrorResponses>();
        builder.Services.AddProductRateLimits(builder.Configuration);
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddAspNetCoreInstrumentation()
            .AddMeter(MediatorMetrics.MeterName)
            .AddPrometheusExporter());

        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddCascadingAuthenticationState();
        builder.Services.AddMudServices();
        builder.Services.AddScoped<UiSender>();
        builder.Services.AddScoped<AuthenticationStateProvider, SessionRevalidator>();

        var app = builder.Build();
        // The cluster role first, a rejoin after a crash included, while the endpoints are mapped; ClusterStartup
        // holds the other hosted services and the web server back until it is done (decision 0015).
        _ = app.Services.GetRequiredService<ClusterSupervisor>().StartAsync(CancellationToken.None);
        app.UseExceptionHandler();
        app.UseHttpsOnly(node.HttpsPort);
        app.UseProductPort(node.ProductPort, node.HttpsPort);
        app.UseHsts();
        app.UseStatusCodePages();
        app.UseRoleGate();
        app.UseCrossSiteGuard();
        app.UseRateLimiter();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();

        app.MapStaticAssets().AllowAnonymous();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).AllowAnonymous();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapAuthEndpoints();
        app.MapAccountEndpoints();
        app.MapEventEndpoints();
        app.MapNotificationEndpoints();
        app.MapBackupEndpoints();
        app.MapUserEndpoints();
        app.MapSyncEndpoints();
        app.MapOfflineSyncEndpoints();
        app.MapLicenseEndpoints();
        app.MapCertificateEndpoints();
        app.MapClusterEndpoints();
        app.MapSmartTransportEndpoints();
        app.MapRegistrationEndpoints();
        app.MapProductEndpoints();
        app.MapApiClientEndpoints();
        app.MapApiToolkitEndpoints();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        app.Logger.LogInformation("Host built {Uptime:F0} ms after the process started", ProcessUptime.Milliseconds);
        app.Lifetime.ApplicationStarted.Register(() =>
            app.Logger.LogInformation("Serving {Uptime:F0} ms after the process started", ProcessUptime.Milliseconds));
        return app;
    }

    private static void AddSecurity(IServiceCollection services)
    {
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(cookie =>
        {
            cookie.Cookie.Name = CrossSiteGuard.CookieName;
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.Always;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.LoginPath = "/login";
            cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
            cookie.SlidingExpiration = true;
            // Browsers navigating to a page are sent to the login page; every other caller gets a plain 401/403.
            cookie.Events.OnRedirectToLogin = context => Refuse(context.HttpContext, StatusCodes.Status401Unauthorized, context.RedirectUri);
            cookie.Events.OnRedirectToAccessDenied = context => Refuse(context.HttpContext, StatusCodes.Status403Forbidden, null);
            cookie.Events.OnValidatePrincipal = SessionCookie.ValidateAsync;
        });
        services.AddMemoryCache();
        services.AddSingleton<SessionCache>();
        services.AddSingleton<LoginThrottle>();
        services.AddAntiforgery(antiforgery => antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.Always);
        // Browsers ignore HSTS for IP addresses; a node reached by its Host Common Name gets it. Not for
        // localhost, where it would bind every other local web server of the machine to HTTPS.
        services.AddHsts(hsts =>
        {
            hsts.MaxAge = TimeSpan.FromDays(365);
            hsts.ExcludedHosts.Clear();
            hsts.ExcludedHosts.Add("localhost");
        });
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
    }

    private static Task Refuse(HttpContext http, int status, string? loginUri)
    {
        var request = http.Request;
        var isPageNavigation = HttpMethods.IsGet(request.Method)
            && !request.Path.StartsWithSegments("/api") && !request.Path.StartsWithSegments("/metrics")
            && request.Headers.Accept.ToString().Contains("text/html");
        if (loginUri is not null && isPageNavigation)
            http.Response.Redirect(loginUri);
        else
            http.Response.StatusCode = status;
        return Task.CompletedTask;
    }
}
