using Ssm.Domain.Events;
using Ssm.Domain.Registration;

namespace Ssm.Application.Api;

/// <summary>
/// Revokes a token of the virtual account, named by its text (what a tool knows). Products it registered keep working.
/// A token of another virtual account or account reads as unknown, so the answer tells nothing about other accounts.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record RevokeApiRegistrationToken(Guid AccountId, string VirtualAccount, string Token) : ICommand<ApiRegistrationToken>, IAudited, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
    public EventCategory Category => EventCategory.Registration;
    public string Subject => VirtualAccount;

    // The token's text stays out of every log line that prints the message.
    public override string ToString() => $"{nameof(RevokeApiRegistrationToken)} {{ AccountId = {AccountId}, VirtualAccount = {VirtualAccount} }}";
}

public sealed class RevokeApiRegistrationTokenValidator : AbstractValidator<RevokeApiRegistrationToken>
{
    public RevokeApiRegistrationTokenValidator()
    {
        RuleFor(x => x.VirtualAccount).NotEmpty().WithMessage("Name the virtual account.");
        RuleFor(x => x.Token).NotEmpty().WithMessage("token is required.").MaximumLength(200).WithMessage("token is at most 200 characters.");
    }
}

public sealed class RevokeApiRegistrationTokenHandler(IDocumentSession session, ICurrentUser user, IClock clock,
    ChangeNotifier notifier)
    : ICommandHandler<RevokeApiRegistrationToken, ApiRegistrationToken>
{
    public async ValueTask<ApiRegistrationToken> Handle(RevokeApiRegistrationToken command, CancellationToken cancellationToken)
    {
        ApiVirtualAccountScope.EnsureTokenManager(user, command.AccountId);
        var virtualAccount = await ApiVirtualAccountScope.FindAsync(session, command.AccountId, command.VirtualAccount, cancellationToken);
        var hash = RegistrationToken.HashOf(command.Token);
        var token = await session.Query<RegistrationToken>().FirstOrDefaultAsync(t => t.SecretHash == hash, cancellationToken);
        if (token is null || token.AccountId != command.AccountId || token.VirtualAccountId != virtualAccount.Id)
            throw new NotFoundException($"Virtual account {virtualAccount.Name} has no such registration token.");
        if (token.RevokedAt is not null)
            throw new ConflictException($"Token {token.Prefix}… was already revoked on {token.RevokedAt:u}.");
        var now = clock.UtcNow;
        token.Revoke(user.Name, now);
        session.Store(token);
        session.RecordSuccess(command, user, clock, $"Token {token.Prefix}… of {virtualAccount.Name} revoked.");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Registration);
        return ApiRegistrationToken.From(token, command.Token, now);
    }
}
