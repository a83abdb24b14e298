using FluentValidation;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Events;

namespace Ssm.Application.Ha;

/// <summary>What a console verb reports back: a readable message for the operator.</summary>
public sealed record VerbResult(string Message);

[Sender(SenderRole.Internal)]
public sealed record StopClusterServices : ICommand<VerbResult>;

public sealed class StopClusterServicesHandler(ClusterSupervisor supervisor) : ICommandHandler<StopClusterServices, VerbResult>
{
    public async ValueTask<VerbResult> Handle(StopClusterServices command, CancellationToken cancellationToken) =>
        new(await supervisor.ClusterStopAsync(cancellationToken));
}

[Sender(SenderRole.Internal)]
public sealed record StartClusterServices : ICommand<VerbResult>;

public sealed class StartClusterServicesHandler(ClusterSupervisor supervisor) : ICommandHandler<StartClusterServices, VerbResult>
{
    public async ValueTask<VerbResult> Handle(StartClusterServices command, CancellationToken cancellationToken) =>
        new(await supervisor.ClusterStartAsync(cancellationToken));
}

[Sender(SenderRole.Internal)]
public sealed record TeardownCluster : ICommand<VerbResult>;

public sealed class TeardownClusterHandler(ClusterSupervisor supervisor) : ICommandHandler<TeardownCluster, VerbResult>
{
    public async ValueTask<VerbResult> Handle(TeardownCluster command, CancellationToken cancellationToken) =>
        new(await supervisor.TeardownAsync(cancellationToken));
}

[Sender(SenderRole.Internal)]
public sealed record TakeOver : ICommand<VerbResult>;

public sealed class TakeOverHandler(ClusterSupervisor supervisor) : ICommandHandler<TakeOver, VerbResult>
{
    public async ValueTask<VerbResult> Handle(TakeOver command, CancellationToken cancellationToken) =>
        new(await supervisor.TakeoverAsync(cancellationToken));
}

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
