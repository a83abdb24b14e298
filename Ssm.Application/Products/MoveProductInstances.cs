using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Products;

namespace Ssm.Application.Products;

/// <summary>
/// Moves products (and so their license usage) to another virtual account of their own local account, as SSM's
/// "Transfer". A product of another local account refuses the whole move: nothing moves.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record MoveProductInstances(IReadOnlyList<Guid> InstanceIds, Guid ToVirtualAccountId) : ICommand<int>, IAudited
{
    public const int MaxInstances = 1000;
    public EventCategory Category => EventCategory.Accounts;
    public string Subject => ToVirtualAccountId.ToString();
}

public sealed class MoveProductInstancesValidator : AbstractValidator<MoveProductInstances>
{
    public MoveProductInstancesValidator()
    {
        RuleFor(x => x.InstanceIds).NotEmpty().WithMessage("Choose the products to move.")
            .Must(ids => ids.Count <= MoveProductInstances.MaxInstances).WithMessage($"Move at most {MoveProductInstances.MaxInstances} products at once.");
        RuleFor(x => x.ToVirtualAccountId).NotEmpty().WithMessage("Choose the virtual account to move them to.");
    }
}

public sealed class MoveProductInstancesHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<MoveProductInstances, int>
{
    public async ValueTask<int> Handle(MoveProductInstances command, CancellationToken cancellationToken)
    {
        var target = await session.LoadAsync<VirtualAccount>(command.ToVirtualAccountId, cancellationToken)
            ?? throw new NotFoundException($"No virtual account with id {command.ToVirtualAccountId}.");
        var ids = command.InstanceIds.Distinct().ToArray();
        var found = await session.Query<ProductInstance>().Where(p => ids.Contains(p.Id))
            .Select(p => new { p.Id, p.AccountId, p.Pid, p.SerialNumber }).ToListAsync(cancellationToken);
        if (found.Count != ids.Length)
            throw new NotFoundException($"{ids.Length - found.Count} of the products to move do not exist (any more).");
        if (found.FirstOrDefault(p => p.AccountId != target.AccountId) is { } foreign)
            throw new ConflictException($"{ProductInstance.UdiOf(foreign.Pid, foreign.SerialNumber)} is in another local account: products move only between virtual accounts of their own account.");
        // Two narrow updates instead of rewriting each instance document (certificate and all) through the session.
        var idTexts = ids.Select(id => id.ToString()).ToArray();
        foreach (var (table, key) in new[] { ("productinstance", ProductInstance.Keys.VirtualAccountId), ("productusage", nameof(ProductUsage.VirtualAccountId)) })
            session.QueueSqlCommand($"update ssm.mt_doc_{table} set data = jsonb_set(data, '{{{key}}}', to_jsonb(?::text)) where id = any(?::uuid[])",
                target.Id.ToString(), idTexts);
        session.RecordSuccess(command, user, clock, $"{ids.Length} product(s) moved to '{target.Name}'");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Products);
        notifier.Publish(ChangeTopic.Licenses);
        return ids.Length;
    }
}
