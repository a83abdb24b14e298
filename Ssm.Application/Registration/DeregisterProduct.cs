using Ssm.Domain.Products;

namespace Ssm.Application.Registration;

/// <summary>A product leaves: its instance goes, the licenses it used are free again; its usage history stays.</summary>
[Sender(SenderRole.Public)]
public sealed record DeregisterProduct(string Host, SignedRequest Request) : ICommand<Guid>;

public sealed class DeregisterProductHandler(HostCommonNames names, IDocumentSession session, IClock clock, ChangeNotifier notifier) : ICommandHandler<DeregisterProduct, Guid>
{
    public async ValueTask<Guid> Handle(DeregisterProduct command, CancellationToken cancellationToken)
    {
        await ProductRequests.EnsureAddressedAsync(session, names, command.Host, cancellationToken);
        var instance = await ProductRequests.AuthenticateAsync(session, command.Request, command.Host, clock.UtcNow, cancellationToken);
        session.Delete<ProductInstance>(instance.Id);
        session.Delete<ProductUsage>(instance.Id);
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Products);
        notifier.Publish(ChangeTopic.Licenses);
        return instance.Id;
    }
}
