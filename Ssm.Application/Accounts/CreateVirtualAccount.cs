using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Accounts;

[Sender(SenderRole.Admin)]
public sealed record CreateVirtualAccount(Guid AccountId, string Name, string Description) : ICommand<VirtualAccountDto>, IAudited, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
    public EventCategory Category => EventCategory.Accounts;
    public string Subject => Name;
}

public sealed class CreateVirtualAccountValidator : AbstractValidator<CreateVirtualAccount>
{
    public CreateVirtualAccountValidator()
    {
        RuleFor(x => x.AccountId).NotEmpty().WithMessage("Choose the local account.");
        RuleFor(x => x.Name).Must(AccountRules.IsValidName).WithMessage($"Name: {AccountRules.NameRuleText}.");
        RuleFor(x => x.Description).NotNull().MaximumLength(VirtualAccount.DescriptionMaxLength);
    }
}

public sealed class CreateVirtualAccountHandler(IDocumentSession session, IStorageErrors storage, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<CreateVirtualAccount, VirtualAccountDto>
{
    public async ValueTask<VirtualAccountDto> Handle(CreateVirtualAccount command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.AccountId, cancellationToken)
            ?? throw new NotFoundException($"No account with id {command.AccountId}.");
        var virtualAccount = VirtualAccount.Create(account.Id, command.Name, command.Description, user.Name, clock.UtcNow);
        session.Store(virtualAccount);
        session.RecordSuccess(command, user, clock, $"Virtual account '{virtualAccount.Name}' in '{account.Name}'.");
        try
        {
            await session.SaveChangesAsync(cancellationToken);
        }
        catch (Exception ex) when (storage.IsUniqueViolation(ex))
        {
            throw new ConflictException($"Account '{account.Name}' already has a virtual account named '{command.Name}'.");
        }
        notifier.Publish(ChangeTopic.Accounts);
        return VirtualAccountDto.From(virtualAccount);
    }
}
