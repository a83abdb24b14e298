using Ssm.Application.Registration;
using Ssm.Domain.Registration;

namespace Ssm.Application.Api;

/// <summary>A registration token as SSM On-Prem's API toolkit lists it.</summary>
public sealed record ApiRegistrationToken(string Token, string Description, string ExpirationDate, string ExportControlled, string CreatedBy,
    string Status)
{
    public const string Valid = "VALID";
    public const string Expired = "EXPIRED";
    public const string Revoked = "REVOKED";

    /// <summary>SSM knows no used-up token: one used its maximum number of times can register nothing more, as an expired one.</summary>
    public static string StatusOf(TokenStatus status) => status switch
    {
        TokenStatus.Active => Valid,
        TokenStatus.Revoked => Revoked,
        _ => Expired,
    };

    public static string ExportControlledOf(bool allowed) => allowed ? "Allowed" : "Not Allowed";

    public static string DateOf(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public static ApiRegistrationToken From(RegistrationToken token, string value, DateTimeOffset now) => new(value, token.Description,
        DateOf(token.ExpiresAt), ExportControlledOf(token.AllowExportControlled), token.CreatedBy, StatusOf(token.StatusAt(now)));
}

public sealed record ApiRegistrationTokens(IReadOnlyList<ApiRegistrationToken> Tokens);

/// <summary>
/// The registration tokens of a virtual account, newest first, with their text so that a tool can reuse one. A token
/// made before token texts were kept (decision 0024) cannot be shown and is left out.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiRegistrationTokens(Guid AccountId, string VirtualAccount, int Limit = ApiLimit.All) : IQuery<ApiRegistrationTokens>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListApiRegistrationTokensValidator : AbstractValidator<ListApiRegistrationTokens>
{
    public ListApiRegistrationTokensValidator()
    {
        RuleFor(x => x.VirtualAccount).NotEmpty().WithMessage("Name the virtual account.");
        this.AddLimitRule(x => x.Limit);
    }
}

public sealed class ListApiRegistrationTokensHandler(IQuerySession session, IRegistrationTokenSealer sealer, ICurrentUser user, IClock clock)
    : IQueryHandler<ListApiRegistrationTokens, ApiRegistrationTokens>
{
    public async ValueTask<ApiRegistrationTokens> Handle(ListApiRegistrationTokens query, CancellationToken cancellationToken)
    {
        ApiVirtualAccountScope.EnsureTokenManager(user, query.AccountId);
        var virtualAccount = await ApiVirtualAccountScope.FindAsync(session, query.AccountId, query.VirtualAccount, cancellationToken);
        var tokens = await session.Query<RegistrationToken>().Where(t => t.VirtualAccountId == virtualAccount.Id && t.SealedValue != null)
            .OrderByDescending(t => t.CreatedAt).ToListAsync(cancellationToken);
        var now = clock.UtcNow;
        var shown = tokens.Where(t => t.AccountId == query.AccountId)
            .Select(t => (Token: t, Value: sealer.Open(t.SealedValue!)))
            .Where(t => t.Value is not null)
            .Select(t => ApiRegistrationToken.From(t.Token, t.Value!, now));
        return new ApiRegistrationTokens(ApiLimit.Apply(shown, query.Limit));
    }
}
