using System.Net;
using Mediator;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Ha;
using Ssm.Web.Security;

namespace Ssm.Web.Endpoints;

/// <summary>
/// The peer API (node to node) and the node admin API (console verbs to their node), served only on the peer port:
/// mutual TLS, where a caller without a certificate of the cluster CA gets no TLS session at all. On top of that,
/// the peer API takes only node certificates and the admin API only console certificates (decision 0018).
/// </summary>
public static class ClusterEndpoints
{
    public static IEndpointRouteBuilder MapClusterEndpoints(this IEndpointRouteBuilder app)
    {
        var peer = app.MapGroup("/peer").AllowAnonymous().AddEndpointFilter(new ClusterCertificateFilter(ClusterCredentials.NodeRole));
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

        var admin = app.MapGroup("/admin/ha").AllowAnonymous().AddEndpointFilter(new ClusterCertificateFilter(ClusterCredentials.ConsoleRole));
        admin.MapGet("/status", (ISender sender, CancellationToken ct) => sender.Send(new GetHaStatus(), ct));
        admin.MapPost("/cluster-stop", (ISender sender, CancellationToken ct) => sender.Send(new StopClusterServices(), ct));
        admin.MapPost("/cluster-start", (ISender sender, CancellationToken ct) => sender.Send(new StartClusterServices(), ct));
        admin.MapPost("/teardown", (ISender sender, CancellationToken ct) => sender.Send(new TeardownCluster(), ct));
        admin.MapPost("/takeover", (ISender sender, CancellationToken ct) => sender.Send(new TakeOver(), ct));
        admin.MapPost("/deploy", (ISender sender, DeployCluster command, CancellationToken ct) => sender.Send(command, ct));
        return app;
    }
}

/// <summary>Admits a request that came on the peer port with a verified cluster certificate of the given role.</summary>
public sealed class ClusterCertificateFilter(string role) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var services = http.RequestServices;
        var peerPort = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<NodeOptions>>().Value.PeerPort;
        // The TLS handshake verified the chain to the cluster CA (a connection without one does not exist): the
        // certificate's role is what is left to check, for each request, without building the chain again.
        var problem = http.Connection.LocalPort != peerPort ? $"served only on the peer port {peerPort} (mutual TLS)"
            : http.Connection.ClientCertificate is not { } certificate ? "no client certificate"
            : ClusterCredentials.RoleOf(certificate) != role ? $"a {ClusterCredentials.RoleOf(certificate) ?? "role-less"} certificate where a {role} certificate is needed"
            : null;
        if (problem is not null)
        {
            services.GetRequiredService<ILogger<ClusterCertificateFilter>>().LogWarning("Refused {Method} {Path} from {Remote}: {Problem}",
                http.Request.Method, http.Request.Path, http.Connection.RemoteIpAddress, problem);
            return TypedResults.Problem($"Refused: {problem}.", statusCode: (int)HttpStatusCode.Forbidden, title: "Refused");
        }
        // A console certificate acts as the node's console; a node's as the node itself.
        services.GetRequiredService<CurrentUser>().Principal = CurrentUser.Console;
        return await next(context);
    }
}
