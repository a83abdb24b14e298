namespace Ssm.Web.Security;

/// <summary>
/// The product port (443, as SSM On-Prem) serves products only: Smart Transport, its Smart Call Home alias and the
/// health probes. The dashboard, its sign-in and the API toolkit stay on the HTTPS port, so a device network that
/// reaches 443 reaches nothing an operator or a tool signs in to.
/// </summary>
public static class ProductPort
{
    private static readonly string[] Served = [.. HttpsOnly.RefusedByTheirEndpoint, "/health/live", "/health/ready"];

    public static IApplicationBuilder UseProductPort(this IApplicationBuilder app, int productPort, int httpsPort) =>
        productPort <= 0 ? app : app.Use(async (context, next) =>
        {
            if (context.Connection.LocalPort != productPort
                || Served.Any(p => context.Request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)))
            {
                await next(context);
                return;
            }
            await TypedResults.Problem(
                $"Port {productPort} serves products only (/SmartTransport, /Transportgateway/services/DeviceRequestHandler); "
                + $"the dashboard and the API toolkit are on port {httpsPort}.",
                statusCode: StatusCodes.Status404NotFound, title: "Products only").ExecuteAsync(context);
        });
}
