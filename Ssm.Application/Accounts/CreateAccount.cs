using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Accounts;

[Sender(SenderRole.Admin)]
public sealed record CreateAccount(string Name, string Description, string ContactEmail) : ICommand<AccountDto>, IAudited
{
    public EventCategory Category => EventCategory.Accounts;
    public string Subject => Name;
}

public sealed class CreateAccountValidator : AbstractValidator<CreateAccount>
{
    public CreateAccountValidator()
    {
        RuleFor(x => x.Name).Cascade(CascadeMode.Stop).NotEmpty().WithMessage("Name is required.")
            .Must(AccountRules.IsValidName)
            .WithMessage($"Name must be {AccountRules.NameRuleText}, without leading or trailing spaces.");
        RuleFor(x => x.Description).NotNull().MaximumLength(AccountRules.DescriptionMaxLength);
        RuleFor(x => x.ContactEmail).Cascade(CascadeMode.Stop).NotEmpty().WithMessage("Contact e-mail is required.")
            .Must(AccountRules.IsValidEmail)
            .WithMessage($"Contact e-mail must be an address like ops@example.com, at most {AccountRules.EmailMaxLength} characters.");
    }
}

public sealed class CreateAccountHandler(IDocumentSession session, IStorageErrors storage, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<CreateAccount, AccountDto>
{
    public async ValueTask<AccountDto> Handle(CreateAccount command, CancellationToken cancellationToken)
    {
        var key = AccountRules.KeyOf(command.Name);
        if (await session.Query<LocalAccount>().AnyAsync(a => a.NameKey == key, cancellationToken))
            throw new ConflictException($"An account named '{command.Name}' already exists.");

        var account = LocalAccount.Create(command.Name, command.Description, command.ContactEmail, user.Name, clock.UtcNow);
        session.Store(account);
        session.Store(VirtualAccount.DefaultOf(account, user.Name, clock.UtcNow));
        session.RecordSuccess(command, user, clock);
        try
        {
            await session.SaveChangesAsync(cancellationToken);
        }
        catch (Exception ex) when (storage.IsUniqueViolation(ex))
        {
            throw new ConflictException($"An account named '{command.Name}' already exists.");
        }
        notifier.Publish(ChangeTopic.Accounts);
        return AccountDto.From(account);
    }
}
