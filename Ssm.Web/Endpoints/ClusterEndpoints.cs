using System.Net;
using Mediator;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Ha;
using Ssm.Web.Security;

namespace Ssm.Web.Endpoints;

/// <summary>
/// The peer API (node to node) and the node admin API (console verbs to their node). Both answer only
/// to the cluster key from ha_generate_keys; a wrong key is refused and logged.
/// </summary>
public static class ClusterEndpoints
{
    public static IEndpointRouteBuilder MapClusterEndpoints(this IEndpointRouteBuilder app)
    {
        var peer = app.MapGroup("/peer").AllowAnonymous().AddEndpointFilter<ClusterKeyFilter>();
        peer.MapPost("/heartbeat", (ClusterSupervisor supervisor, PeerHello hello, CancellationToken ct) => supervisor.ReceiveHeartbeatAsync(hello, ct));
        peer.MapPost("/promote", (ClusterSupervisor supervisor, HandoverRequest request, CancellationToken ct) => supervisor.AcceptHandoverAsync(request, ct));
        peer.MapPost("/join", (ClusterSupervisor supervisor, JoinRequest request, CancellationToken ct) => supervisor.AcceptJoinAsync(request, ct));
        peer.MapPost("/discard", async (ClusterSupervisor supervisor, DiscardRequest request, CancellationToken ct) =>
        {
            await supervisor.AcceptDiscardAsync(request, ct);
            return new JoinReply(supervisor.Name, supervisor.DatabaseNode.Endpoint.Host, supervisor.DatabaseNode.Endpoint.Port);
        });
        peer.MapPost("/standby-leaving", async (ClusterSupervisor supervisor, PeerHello hello, CancellationToken ct) =>
        {
            await supervisor.AcceptStandbyLeavingAsync(hello.Node, ct);
            return supervisor.Hello();
        });

        var admin = app.MapGroup("/admin/ha").AllowAnonymous().AddEndpointFilter<ClusterKeyFilter>();
        admin.MapGet("/status", (ISender sender, CancellationToken ct) => sender.Send(new GetHaStatus(), ct));
        admin.MapPost("/cluster-stop", (ISender sender, CancellationToken ct) => sender.Send(new StopClusterServices(), ct));
        admin.MapPost("/cluster-start", (ISender sender, CancellationToken ct) => sender.Send(new StartClusterServices(), ct));
        admin.MapPost("/teardown", (ISender sender, CancellationToken ct) => sender.Send(new TeardownCluster(), ct));
        admin.MapPost("/takeover", (ISender sender, CancellationToken ct) => sender.Send(new TakeOver(), ct));
        admin.MapPost("/deploy", (ISender sender, DeployCluster command, CancellationToken ct) => sender.Send(command, ct));
        return app;
    }
}

public sealed class ClusterKeyFilter(ClusterKey key, CurrentUser user, ILogger<ClusterKeyFilter> logger) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!key.Matches(http.Request.Headers[HttpPeerLink.KeyHeader]))
        {
            logger.LogWarning("Refused {Method} {Path} from {Remote}: {Problem}", http.Request.Method, http.Request.Path,
                http.Connection.RemoteIpAddress, key.IsSet ? "wrong or missing cluster key" : "this node has no cluster key (ha_generate_keys)");
            return TypedResults.Problem("The cluster key is missing or wrong.", statusCode: (int)HttpStatusCode.Unauthorized, title: "Refused");
        }
        // Whoever holds the cluster key acts as the node's console.
        user.Principal = CurrentUser.Console;
        return await next(context);
    }
}
