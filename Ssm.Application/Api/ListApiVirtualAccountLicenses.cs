using Ssm.Application.Licenses;

namespace Ssm.Application.Api;

/// <summary>
/// One license of a virtual account in the API toolkit's answer. Licenses are bought per local account, so
/// <c>quantity</c>, <c>available</c> and <c>status</c> are the account's (as the account-level call gives them);
/// <c>inUse</c> is this virtual account's use and <c>accountInUse</c> the whole account's.
/// </summary>
public sealed record ApiVirtualAccountLicense(string License, string Tag, string Status, int Quantity, int InUse, int Available, int AccountInUse);

public sealed record ApiVirtualAccountLicenses(IReadOnlyList<ApiVirtualAccountLicense> Licenses);

/// <summary>
/// A virtual account's licenses as the API toolkit shows them, from the dashboard's per-virtual-account license list:
/// each tag its products use, and for DEFAULT also the tags bought and used nowhere. Ordered by license name.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiVirtualAccountLicenses(Guid AccountId, string VirtualAccount, int Limit = ApiLimit.All) : IQuery<ApiVirtualAccountLicenses>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListApiVirtualAccountLicensesValidator : AbstractValidator<ListApiVirtualAccountLicenses>
{
    public ListApiVirtualAccountLicensesValidator()
    {
        RuleFor(x => x.VirtualAccount).NotEmpty().WithMessage("Name the virtual account.");
        this.AddLimitRule(x => x.Limit);
    }
}

public sealed class ListApiVirtualAccountLicensesHandler(IQuerySession session, ISender sender)
    : IQueryHandler<ListApiVirtualAccountLicenses, ApiVirtualAccountLicenses>
{
    public async ValueTask<ApiVirtualAccountLicenses> Handle(ListApiVirtualAccountLicenses query, CancellationToken cancellationToken)
    {
        var virtualAccount = await ApiVirtualAccountScope.FindAsync(session, query.AccountId, query.VirtualAccount, cancellationToken);
        var rows = await sender.Send(new ListVirtualAccountLicenses(query.AccountId), cancellationToken);
        return new ApiVirtualAccountLicenses(ApiLimit.Apply(rows.Where(r => r.VirtualAccountId == virtualAccount.Id).OrderBy(r => r.Name)
            .Select(r => new ApiVirtualAccountLicense(r.Name, r.Tag, r.AccountStatusText, r.AccountPurchased, r.InUse, r.AccountAvailable,
                r.AccountInUse)), query.Limit));
    }
}
