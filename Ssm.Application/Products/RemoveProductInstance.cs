using Ssm.Domain.Events;
using Ssm.Domain.Products;

namespace Ssm.Application.Products;

/// <summary>
/// Removes a product instance: the licenses it used are free again, and the product has to register anew.
/// Its usage history stays, so past days of the usage chart do not change.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record RemoveProductInstance(Guid Id) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Registration;
    public string Subject => Id.ToString();
}

public sealed class RemoveProductInstanceValidator : AbstractValidator<RemoveProductInstance>
{
    public RemoveProductInstanceValidator() => RuleFor(x => x.Id).NotEmpty();
}

public sealed class RemoveProductInstanceHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<RemoveProductInstance>
{
    public async ValueTask<Unit> Handle(RemoveProductInstance command, CancellationToken cancellationToken)
    {
        var instance = await session.LoadAsync<ProductInstance>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No product instance with id {command.Id}.");
        session.Delete(instance);
        session.Delete<ProductUsage>(instance.Id);
        session.RecordSuccess(command, user, clock, $"Product {instance.Udi} ({instance.Name}) removed.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Products);
        notifier.Publish(ChangeTopic.Licenses);
        return Unit.Value;
    }
}
