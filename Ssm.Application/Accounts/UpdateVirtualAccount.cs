using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Accounts;

/// <summary>Renames a virtual account and sets its description; DEFAULT keeps its name.</summary>
[Sender(SenderRole.Admin)]
public sealed record UpdateVirtualAccount(Guid Id, string Name, string Description) : ICommand<VirtualAccountDto>, IAudited
{
    public EventCategory Category => EventCategory.Accounts;
    public string Subject => Id.ToString();
}

public sealed class UpdateVirtualAccountValidator : AbstractValidator<UpdateVirtualAccount>
{
    public UpdateVirtualAccountValidator()
    {
        RuleFor(x => x.Id).NotEmpty();
        RuleFor(x => x.Name).Must(AccountRules.IsValidName).WithMessage($"Name: {AccountRules.NameRuleText}.");
        RuleFor(x => x.Description).NotNull().MaximumLength(VirtualAccount.DescriptionMaxLength);
    }
}

public sealed class UpdateVirtualAccountHandler(IDocumentSession session, IStorageErrors storage, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<UpdateVirtualAccount, VirtualAccountDto>
{
    public async ValueTask<VirtualAccountDto> Handle(UpdateVirtualAccount command, CancellationToken cancellationToken)
    {
        var virtualAccount = await session.LoadAsync<VirtualAccount>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No virtual account with id {command.Id}.");
        var before = virtualAccount.Name;
        virtualAccount.Rename(command.Name);
        virtualAccount.ChangeDescription(command.Description);
        session.Store(virtualAccount);
        session.RecordSuccess(command, user, clock, before == virtualAccount.Name ? $"'{before}' changed" : $"'{before}' renamed '{virtualAccount.Name}'");
        try
        {
            await session.SaveChangesAsync(cancellationToken);
        }
        catch (Exception ex) when (storage.IsUniqueViolation(ex))
        {
            throw new ConflictException($"The account already has a virtual account named '{command.Name}'.");
        }
        notifier.Publish(ChangeTopic.Accounts);
        return VirtualAccountDto.From(virtualAccount);
    }
}
