using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Accounts;

[Sender(SenderRole.Admin)]
public sealed record UpdateAccountDescription(Guid Id, string Description) : ICommand<AccountDto>, IAudited, IAccountScoped
{
    public Guid? ScopeAccountId => Id;
    public EventCategory Category => EventCategory.Accounts;
    public string Subject => Id.ToString();
}

public sealed class UpdateAccountDescriptionValidator : AbstractValidator<UpdateAccountDescription>
{
    public UpdateAccountDescriptionValidator()
    {
        RuleFor(x => x.Id).NotEmpty();
        RuleFor(x => x.Description).NotNull().MaximumLength(AccountRules.DescriptionMaxLength);
    }
}

public sealed class UpdateAccountDescriptionHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<UpdateAccountDescription, AccountDto>
{
    public async ValueTask<AccountDto> Handle(UpdateAccountDescription command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No account with id {command.Id}.");
        account.ChangeDescription(command.Description, clock.UtcNow);
        session.Store(account);
        session.RecordSuccess(command, user, clock, $"Description of '{account.Name}' changed");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return AccountDto.From(account);
    }
}
