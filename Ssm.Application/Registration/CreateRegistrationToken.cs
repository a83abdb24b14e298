using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

public sealed record RegistrationTokenDto(Guid Id, Guid AccountId, Guid VirtualAccountId, string Prefix, string Description, DateTimeOffset CreatedAt, string CreatedBy,
    DateTimeOffset ExpiresAt, int? MaxUses, int Uses, int? UsesLeft, bool AllowExportControlled, TokenStatus Status, DateTimeOffset? RevokedAt, bool TextKept)
{
    public static RegistrationTokenDto From(RegistrationToken t, int uses, DateTimeOffset now) => new(t.Id, t.AccountId, t.VirtualAccountId, t.Prefix, t.Description,
        t.CreatedAt, t.CreatedBy, t.ExpiresAt, t.MaxUses, uses, t.UsesLeft, t.AllowExportControlled, t.StatusAt(now), t.RevokedAt, t.SealedValue is not null);

    /// <summary>Whether an admin may have its text shown again: a valid token whose text was kept (decision 0024).</summary>
    public bool CanBeShown => TextKept && Status == TokenStatus.Active;
}

/// <summary>The token's text: stored only as its hash and sealed (decision 0024).</summary>
public sealed record CreatedRegistrationToken(RegistrationTokenDto Token, string Secret);

[Sender(SenderRole.Admin)]
/// <summary>A token of <see cref="VirtualAccountId"/>, or of the account's DEFAULT virtual account when that is null.</summary>
public sealed record CreateRegistrationToken(Guid AccountId, string Description, int ExpiresInDays, int? MaxUses, bool AllowExportControlled,
    Guid? VirtualAccountId = null)
    : ICommand<CreatedRegistrationToken>, IAudited, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
    public EventCategory Category => EventCategory.Registration;
    public string Subject => Description;
}

public sealed class CreateRegistrationTokenValidator : AbstractValidator<CreateRegistrationToken>
{
    public CreateRegistrationTokenValidator()
    {
        RuleFor(x => x.AccountId).NotEmpty().WithMessage("Choose the account the token registers products in.");
        RuleFor(x => x.Description).NotNull().MaximumLength(RegistrationToken.DescriptionMaxLength);
        RuleFor(x => x.ExpiresInDays).InclusiveBetween(1, RegistrationToken.MaxExpiryDays)
            .WithMessage($"Expire after 1 to {RegistrationToken.MaxExpiryDays} days.");
        RuleFor(x => x.MaxUses).GreaterThanOrEqualTo(1).When(x => x.MaxUses is not null)
            .WithMessage("Maximum number of uses must be at least 1, or empty for no limit.");
    }
}

public sealed class CreateRegistrationTokenHandler(IDocumentSession session, IRegistrationTokenSealer sealer, ICurrentUser user, IClock clock,
    ChangeNotifier notifier)
    : ICommandHandler<CreateRegistrationToken, CreatedRegistrationToken>
{
    public async ValueTask<CreatedRegistrationToken> Handle(CreateRegistrationToken command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.AccountId, cancellationToken)
            ?? throw new NotFoundException($"No account with id {command.AccountId}.");
        var virtualAccount = await session.LoadAsync<VirtualAccount>(command.VirtualAccountId ?? account.Id, cancellationToken);
        if (virtualAccount is null || virtualAccount.AccountId != account.Id)
            throw new NotFoundException($"Account {account.Name} has no virtual account with id {command.VirtualAccountId ?? account.Id}.");
        var created = RegistrationTokens.Create(session, sealer, account, virtualAccount, command.Description, command.ExpiresInDays,
            command.MaxUses, command.AllowExportControlled, user.Name, clock.UtcNow);
        session.RecordSuccess(command, user, clock, $"Token {created.Token.Prefix}… for {account.Name} / {virtualAccount.Name}, expires {created.Token.ExpiresAt:u}.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Registration);
        return created;
    }
}

public static class RegistrationTokens
{
    /// <summary>A new token of the virtual account, stored (hash and sealed text) in the session; its text is in the answer.</summary>
    public static CreatedRegistrationToken Create(IDocumentSession session, IRegistrationTokenSealer sealer, LocalAccount account,
        VirtualAccount virtualAccount, string description, int expiresInDays, int? maxUses, bool allowExportControlled, string createdBy,
        DateTimeOffset now)
    {
        var (token, secret) = RegistrationToken.Create(account.Id, virtualAccount.Id, description, expiresInDays, maxUses, allowExportControlled,
            createdBy, now);
        token.SealedValue = sealer.Seal(secret);
        session.Store(token);
        return new CreatedRegistrationToken(RegistrationTokenDto.From(token, 0, now), secret);
    }
}
