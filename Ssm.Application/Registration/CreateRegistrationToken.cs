using FluentValidation;
using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

public sealed record RegistrationTokenDto(Guid Id, Guid AccountId, string Prefix, string Description, DateTimeOffset CreatedAt, string CreatedBy,
    DateTimeOffset ExpiresAt, int? MaxUses, int Uses, int? UsesLeft, bool AllowExportControlled, TokenStatus Status, DateTimeOffset? RevokedAt)
{
    public static RegistrationTokenDto From(RegistrationToken t, int uses, DateTimeOffset now) => new(t.Id, t.AccountId, t.Prefix, t.Description,
        t.CreatedAt, t.CreatedBy, t.ExpiresAt, t.MaxUses, uses, t.UsesLeft, t.AllowExportControlled, t.StatusAt(now), t.RevokedAt);
}

/// <summary>The token's text is in this answer and nowhere else: only its hash is stored.</summary>
public sealed record CreatedRegistrationToken(RegistrationTokenDto Token, string Secret);

[Sender(SenderRole.Admin)]
public sealed record CreateRegistrationToken(Guid AccountId, string Description, int ExpiresInDays, int? MaxUses, bool AllowExportControlled)
    : ICommand<CreatedRegistrationToken>, IAudited
{
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

public sealed class CreateRegistrationTokenHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<CreateRegistrationToken, CreatedRegistrationToken>
{
    public async ValueTask<CreatedRegistrationToken> Handle(CreateRegistrationToken command, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(command.AccountId, cancellationToken)
            ?? throw new NotFoundException($"No account with id {command.AccountId}.");
        var now = clock.UtcNow;
        var (token, secret) = RegistrationToken.Create(account.Id, command.Description, command.ExpiresInDays, command.MaxUses,
            command.AllowExportControlled, user.Name, now);
        session.Store(token);
        session.RecordSuccess(command, user, clock, $"Token {token.Prefix}… for account {account.Name}, expires {token.ExpiresAt:u}.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Registration);
        return new CreatedRegistrationToken(RegistrationTokenDto.From(token, 0, now), secret);
    }
}
