using Ssm.Application.Licenses;

namespace Ssm.Application.Api;

/// <summary>One license of the API toolkit's answer; "quantity" counts only entitlements valid today.</summary>
public sealed record ApiLicense(string License, string Tag, string Status, int Quantity, int InUse, int Available);

public sealed record ApiLicenses(IReadOnlyList<ApiLicense> Licenses);

/// <summary>An account's licenses as SSM On-Prem's API toolkit shows them, from the dashboard's own license list.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiLicenses(Guid AccountId, int Limit = ApiLimit.All) : IQuery<ApiLicenses>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListApiLicensesValidator : AbstractValidator<ListApiLicenses>
{
    public ListApiLicensesValidator() => this.AddLimitRule(x => x.Limit);
}

public sealed class ListApiLicensesHandler(ISender sender) : IQueryHandler<ListApiLicenses, ApiLicenses>
{
    public async ValueTask<ApiLicenses> Handle(ListApiLicenses query, CancellationToken cancellationToken)
    {
        var licenses = await sender.Send(new ListLicenses(query.AccountId), cancellationToken);
        return new ApiLicenses(ApiLimit.Apply(
            licenses.Select(l => new ApiLicense(l.Name, l.Tag, l.StatusText, l.Purchased, l.InUse, l.Available)), query.Limit));
    }
}
