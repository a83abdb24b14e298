using Microsoft.AspNetCore.Http.Extensions;

namespace Ssm.Web.Security;

/// <summary>
/// The HTTP listener serves only the health checks and the cluster's own calls (peer, console), which move
/// to their own port later (issue 11). A page navigation is sent to the same path on the HTTPS port (308);
/// anything else, an API call that would carry a cookie, a token or a password in clear, is refused (decision 0016).
/// </summary>
public static class HttpsOnly
{
    // The peer and console API has a port of its own (decision 0018): nothing of it on the HTTP port.
    private static readonly string[] OpenOnHttp = ["/health/live", "/health/ready"];
    // Smart Transport refuses plain HTTP itself, in its own protocol's format (HTTPS_REQUIRED), which products read.
    public static readonly string[] RefusedByTheirEndpoint = ["/SmartTransport", "/Transportgateway"];
    private static readonly string[] MachinePaths = ["/api", "/backend", "/oauth", "/metrics", "/_blazor", "/peer", "/admin", .. RefusedByTheirEndpoint];

    public static IApplicationBuilder UseHttpsOnly(this IApplicationBuilder app, int httpsPort) => app.Use(async (context, next) =>
    {
        var request = context.Request;
        if (request.IsHttps || OpenOnHttp.Concat(RefusedByTheirEndpoint).Any(p => request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)))
        {
            await next(context);
            return;
        }
        var host = request.Host.HasValue ? request.Host.Host : context.Connection.LocalIpAddress?.ToString() ?? "localhost";
        var target = UriHelper.BuildAbsolute("https", new HostString(host, httpsPort), request.PathBase, request.Path, request.QueryString);
        var isPageNavigation = (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
            && !MachinePaths.Any(p => request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase));
        if (isPageNavigation)
        {
            context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
            context.Response.Headers.Location = target;
            return;
        }
        await TypedResults.Problem($"This node serves {request.Path} over HTTPS only: {target}",
            statusCode: StatusCodes.Status403Forbidden, title: "HTTPS required").ExecuteAsync(context);
    });
}
