using Ssm.Domain.Events;

namespace Ssm.Application.Ha;

/// <summary>ha_deploy on the primary: copies this node's database to the peer and starts the cluster.</summary>
[Sender(SenderRole.Internal)]
public sealed record DeployCluster(string PeerUrl, string Vip) : ICommand<VerbResult>, IAudited
{
    public EventCategory Category => EventCategory.Cluster;
    public string Subject => PeerUrl;
    public override string ToString() => $"DeployCluster {{ PeerUrl = {PeerUrl}, Vip = {Vip} }}";
}

public sealed class DeployClusterValidator : AbstractValidator<DeployCluster>
{
    public DeployClusterValidator()
    {
        RuleFor(x => x.PeerUrl).Must(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme == "https")
            .WithMessage("--peer must be the peer node's peer URL (mutual TLS), e.g. https://127.0.0.9:8444");
        RuleFor(x => x.Vip).Must(v => System.Net.IPAddress.TryParse(v, out _))
            .WithMessage("--vip must be an IPv4 or IPv6 address, e.g. 127.0.0.14");
    }
}

public sealed class DeployClusterHandler(ClusterSupervisor supervisor) : ICommandHandler<DeployCluster, VerbResult>
{
    public async ValueTask<VerbResult> Handle(DeployCluster command, CancellationToken cancellationToken) =>
        new(await supervisor.DeployAsync(new Uri(command.PeerUrl), command.Vip, cancellationToken));
}
