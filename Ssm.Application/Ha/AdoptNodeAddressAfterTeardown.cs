using Microsoft.Extensions.Options;
using Ssm.Application.Certificates;
using Ssm.Application.Sync;

namespace Ssm.Application.Ha;

/// <summary>The follow-up after the action, and why the synchronization did not get the certificate signed, if it did not.</summary>
public sealed record TeardownFollowUpResult(TeardownFollowUp FollowUp, string? SyncProblem);

/// <summary>
/// The one action the seed's last step needs after <c>ha_teardown</c>: the Host Common Name becomes this node's own
/// address and a synchronization has CSC sign the certificate for it. Each step is its own audited command; a
/// synchronization that fails leaves the name set and says why, to be retried from Synchronization.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record AdoptNodeAddressAfterTeardown : ICommand<TeardownFollowUpResult>;

public sealed class AdoptNodeAddressAfterTeardownHandler(ISender sender, IOptions<NodeOptions> node)
    : ICommandHandler<AdoptNodeAddressAfterTeardown, TeardownFollowUpResult>
{
    public async ValueTask<TeardownFollowUpResult> Handle(AdoptNodeAddressAfterTeardown command, CancellationToken cancellationToken)
    {
        var before = await sender.Send(new GetTeardownFollowUp(), cancellationToken)
            ?? throw new ConflictException("This node was not made standalone by ha_teardown: set the Host Common Name under Security → Certificates.");
        if (!before.NamesThisNode)
            await sender.Send(new SetHostCommonName(TeardownFollowUps.NodeAddressOf(node.Value)), cancellationToken);
        string? problem = null;
        try
        {
            await sender.Send(new SynchronizeNow(), cancellationToken);
        }
        catch (Exception ex) when (ex is CscUnreachableException or CscRefusedException or CscTokenExpiredException or ConflictException)
        {
            problem = ErrorText.Describe(ex);
        }
        return new TeardownFollowUpResult((await sender.Send(new GetTeardownFollowUp(), cancellationToken))!, problem);
    }
}
