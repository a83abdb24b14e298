namespace Ssm.Application.Ha;

[Sender(SenderRole.Internal)]
public sealed record TakeOver : ICommand<VerbResult>;

public sealed class TakeOverHandler(ClusterSupervisor supervisor) : ICommandHandler<TakeOver, VerbResult>
{
    public async ValueTask<VerbResult> Handle(TakeOver command, CancellationToken cancellationToken) =>
        new(await supervisor.TakeoverAsync(cancellationToken));
}
