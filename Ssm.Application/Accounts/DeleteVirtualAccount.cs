using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Application.Accounts;

/// <summary>Deletes an empty virtual account: no registration token and no product in it. DEFAULT stays.</summary>
[Sender(SenderRole.Admin)]
public sealed record DeleteVirtualAccount(Guid Id) : ICommand, IAudited
{
    public EventCategory Category => EventCategory.Accounts;
    public string Subject => Id.ToString();
}

public sealed class DeleteVirtualAccountValidator : AbstractValidator<DeleteVirtualAccount>
{
    public DeleteVirtualAccountValidator() => RuleFor(x => x.Id).NotEmpty();
}

public sealed class DeleteVirtualAccountHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<DeleteVirtualAccount>
{
    public async ValueTask<Unit> Handle(DeleteVirtualAccount command, CancellationToken cancellationToken)
    {
        var virtualAccount = await session.LoadAsync<VirtualAccount>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No virtual account with id {command.Id}.");
        if (virtualAccount.IsDefault)
            throw new ConflictException($"The {VirtualAccount.DefaultName} virtual account is deleted only with its account.");
        var id = virtualAccount.Id;
        var accountId = virtualAccount.AccountId;
        // Both reads use an index: (account, virtual account) for products, the virtual account for tokens.
        var products = await session.Query<ProductInstance>().CountAsync(p => p.AccountId == accountId && p.VirtualAccountId == id, cancellationToken);
        var tokens = await session.Query<RegistrationToken>().CountAsync(t => t.VirtualAccountId == id, cancellationToken);
        if (products > 0 || tokens > 0)
            throw new ConflictException($"Virtual account '{virtualAccount.Name}' holds {products} product(s) and {tokens} registration token(s): "
                                        + "move its products to another virtual account first; a virtual account with tokens is kept for their history.");
        session.Delete(virtualAccount);
        session.RecordSuccess(command, user, clock, $"Virtual account '{virtualAccount.Name}' deleted");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return Unit.Value;
    }
}
