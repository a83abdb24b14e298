namespace Ssm.Web.Security;

/// <summary>
/// A state-changing /api call that carries the login cookie must show it comes from the node's own origin:
/// a matching Origin, Sec-Fetch-Site: same-origin, or an X-Requested-With header (which a cross-site form
/// cannot send, and a cross-site script only after a CORS preflight this node never grants). The API
/// toolkit's bearer-token calls carry no cookie, and the JSON login no session yet: both are exempt.
/// </summary>
public static class CrossSiteGuard
{
    public const string CookieName = "ssm.auth";
    public const string RequestedWithHeader = "X-Requested-With";

    public static IApplicationBuilder UseCrossSiteGuard(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (Refuses(context.Request))
        {
            await TypedResults.Problem($"A cross-site request with the login cookie is refused: send it from the dashboard's origin or with an {RequestedWithHeader} header.",
                statusCode: StatusCodes.Status403Forbidden, title: "Cross-site request refused").ExecuteAsync(context);
            return;
        }
        await next(context);
    });

    private static bool Refuses(HttpRequest request)
    {
        var method = request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method))
            return false;
        if (!request.Path.StartsWithSegments("/api") || (HttpMethods.IsPost(method) && request.Path.StartsWithSegments("/api/session")))
            return false;
        // A bearer token alone is no ambient credential; with the cookie beside it, the cookie is what authenticates.
        if (!request.Cookies.ContainsKey(CookieName))
            return false;

        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0)
            return !string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase);
        var fetchSite = request.Headers["Sec-Fetch-Site"].ToString();
        if (fetchSite.Length > 0)
            return fetchSite != "same-origin";
        return request.Headers[RequestedWithHeader].Count == 0;
    }
}
