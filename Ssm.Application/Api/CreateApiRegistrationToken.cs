using Ssm.Application.Registration;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Registration;

namespace Ssm.Application.Api;

public sealed record ApiTokenInfo(string Token, string Description, string ExpirationDate, string ExportControlled);

public sealed record ApiCreatedRegistrationToken(ApiTokenInfo TokenInfo);

/// <summary>A registration token made by an API client for a virtual account of its account, as SSM On-Prem's toolkit makes one.</summary>
[Sender(SenderRole.Viewer)]
public sealed record CreateApiRegistrationToken(Guid AccountId, string VirtualAccount, string Description, int ExpiresAfterDays, bool ExportControlled)
    : ICommand<ApiCreatedRegistrationToken>, IAudited, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
    public EventCategory Category => EventCategory.Registration;
    public string Subject => $"{VirtualAccount}: {Description}";
}

public sealed class CreateApiRegistrationTokenValidator : AbstractValidator<CreateApiRegistrationToken>
{
    public CreateApiRegistrationTokenValidator()
    {
        RuleFor(x => x.VirtualAccount).NotEmpty().WithMessage("Name the virtual account.");
        RuleFor(x => x.Description).NotNull().MaximumLength(RegistrationToken.DescriptionMaxLength)
            .WithMessage($"description is at most {RegistrationToken.DescriptionMaxLength} characters.");
        RuleFor(x => x.ExpiresAfterDays).InclusiveBetween(1, RegistrationToken.MaxExpiryDays)
            .WithMessage($"expiresAfterDays must be 1 to {RegistrationToken.MaxExpiryDays}.");
    }
}

public sealed class CreateApiRegistrationTokenHandler(IDocumentSession session, IRegistrationTokenSealer sealer, ICurrentUser user, IClock clock,
    ChangeNotifier notifier)
    : ICommandHandler<CreateApiRegistrationToken, ApiCreatedRegistrationToken>
{
    public async ValueTask<ApiCreatedRegistrationToken> Handle(CreateApiRegistrationToken command, CancellationToken cancellationToken)
    {
        ApiVirtualAccountScope.EnsureTokenManager(user, command.AccountId);
        var account = await session.LoadAsync<LocalAccount>(command.AccountId, cancellationToken)
            ?? throw new NotFoundException($"No account with id {command.AccountId}.");
        var virtualAccount = await ApiVirtualAccountScope.FindAsync(session, account.Id, command.VirtualAccount, cancellationToken);
        var created = RegistrationTokens.Create(session, sealer, account, virtualAccount, command.Description, command.ExpiresAfterDays, maxUses: null,
            command.ExportControlled, user.Name, clock.UtcNow);
        session.RecordSuccess(command, user, clock,
            $"Token {created.Token.Prefix}… for {account.Name} / {virtualAccount.Name}, expires {created.Token.ExpiresAt:u}.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Registration);
        var token = created.Token;
        return new ApiCreatedRegistrationToken(new ApiTokenInfo(created.Secret, token.Description, ApiRegistrationToken.DateOf(token.ExpiresAt),
            ApiRegistrationToken.ExportControlledOf(token.AllowExportControlled)));
    }
}
