using Ssm.Domain.Events;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

/// <summary>A registration token's text, opened from its sealed copy; <see cref="ToString"/> leaves it out so no log can carry it.</summary>
public sealed record ShownRegistrationToken(Guid Id, string Text)
{
    public override string ToString() => $"ShownRegistrationToken {{ Id = {Id} }}";
}

/// <summary>
/// Shows a valid token's text again in the dashboard, as SSM does, to an admin: those who may read token texts through
/// the API toolkit are the account's API clients and admins, never a viewer (decision 0024). Each showing is in the
/// Event Log (category Security) with the token's first eight characters, never its text.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record ShowRegistrationToken(Guid Id) : ICommand<ShownRegistrationToken>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => Id.ToString();
}

public sealed class ShowRegistrationTokenValidator : AbstractValidator<ShowRegistrationToken>
{
    public ShowRegistrationTokenValidator() => RuleFor(x => x.Id).NotEmpty();
}

public sealed class ShowRegistrationTokenHandler(IDocumentSession session, IRegistrationTokenSealer sealer, ICurrentUser user, IClock clock)
    : ICommandHandler<ShowRegistrationToken, ShownRegistrationToken>
{
    public async ValueTask<ShownRegistrationToken> Handle(ShowRegistrationToken command, CancellationToken cancellationToken)
    {
        var token = await session.LoadAsync<RegistrationToken>(command.Id, cancellationToken)
            ?? throw new NotFoundException($"No registration token with id {command.Id}.");
        var status = token.StatusAt(clock.UtcNow);
        if (status != TokenStatus.Active)
            throw new ConflictException($"Token {token.Prefix}… is {status.ToString().ToLowerInvariant()}: only a valid token is shown again.");
        if (token.SealedValue is null)
            throw new ConflictException($"Token {token.Prefix}… was made before token texts were kept: its text cannot be shown; make a new one.");
        var text = sealer.Open(token.SealedValue)
            ?? throw new ConflictException($"Token {token.Prefix}…'s text cannot be opened (its data protection key is gone): make a new one.");
        session.RecordSuccess(command, user, clock, $"Text of token {token.Prefix}… shown.");
        await session.SaveChangesAsync(cancellationToken);
        return new ShownRegistrationToken(token.Id, text);
    }
}
