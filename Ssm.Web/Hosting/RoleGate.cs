using System.Net;
using Ssm.Application.Ha;

namespace Ssm.Web.Hosting;

/// <summary>
/// A node that does not hold the writer role serves only its health, the peer and admin APIs and a
/// page telling people to use the VIP: nothing can be read from a stale replica or written to it.
/// </summary>
public static class RoleGate
{
    private static readonly string[] AlwaysOpen = ["/health", "/peer", "/admin", "/metrics"];
    private static readonly string[] MachinePaths = ["/SmartTransport", "/Transportgateway", "/backend", "/api"];

    public static IApplicationBuilder UseRoleGate(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var supervisor = context.RequestServices.GetRequiredService<ClusterSupervisor>();
        var path = context.Request.Path;
        if (AlwaysOpen.Any(p => path.StartsWithSegments(p)))
        {
            await next(context);
            return;
        }
        // Requests that end are counted, so a planned handover waits for their answers; a Blazor circuit or a
        // WebSocket lives as long as its page and is only admitted.
        var lasting = context.WebSockets.IsWebSocketRequest || path.StartsWithSegments("/_blazor");
        var gate = context.RequestServices.GetRequiredService<WriteGate>();
        if (lasting ? supervisor.AcceptsWrites : gate.TryEnter(() => supervisor.AcceptsWrites))
        {
            try
            {
                await next(context);
            }
            finally
            {
                if (!lasting)
                    gate.Exit();
            }
            return;
        }
        var vip = supervisor.State.Vip is { } address ? $"{context.Request.Scheme}://{address}:{context.Connection.LocalPort}/" : null;
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "1";
        // The client's next request must go through the VIP again, to whichever node holds it then: a keep-alive
        // connection would bring it back here (during a planned handover an `ip` VIP stays here until the standby has it).
        if (HttpProtocol.IsHttp11(context.Request.Protocol))
            context.Response.Headers.Connection = "close";
        // Products and monitoring tools read JSON: they are told the same, in their own format, and retry.
        if (MachinePaths.Any(p => path.StartsWithSegments(p)))
        {
            await context.Response.WriteAsJsonAsync(new
            {
                status = "FAILURE",
                error = new { code = "NODE_NOT_ACTIVE", message = $"{supervisor.Name} is {supervisor.Role.ToString().ToLowerInvariant()} ({supervisor.Reason}): use the cluster's address{(vip is null ? "" : " " + vip)} and retry." },
            });
            return;
        }
        context.Response.ContentType = "text/html; charset=utf-8";
        var name = WebUtility.HtmlEncode(supervisor.Name);
        var reason = WebUtility.HtmlEncode(supervisor.Reason);
        var link = vip is null ? "" : $"<p>Use the cluster's address: <a href=\"{vip}\">{vip}</a></p>";
        await context.Response.WriteAsync($"""
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>{name}: {supervisor.Role}</title></head>
            <body style="font-family:sans-serif;max-width:40em;margin:10vh auto">
            <h1 data-testid="role-page">This node is {supervisor.Role.ToString().ToLowerInvariant()}</h1>
            <p>{name} does not serve the dashboard now ({reason}).</p>{link}
            </body></html>
            """);
    });
}
