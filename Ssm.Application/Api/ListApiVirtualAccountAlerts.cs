using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain.Licenses;

namespace Ssm.Application.Api;

/// <summary>
/// A virtual account's alerts as the API toolkit shows them: the synchronization alerts of its local account
/// (synchronization is per account, so every virtual account shares them) and one Major alert per license tag the
/// account is out of compliance with and this virtual account uses. Major first, newest first.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiVirtualAccountAlerts(Guid AccountId, string VirtualAccount, int Limit = ApiLimit.All) : IQuery<ApiAlerts>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListApiVirtualAccountAlertsValidator : AbstractValidator<ListApiVirtualAccountAlerts>
{
    public ListApiVirtualAccountAlertsValidator()
    {
        RuleFor(x => x.VirtualAccount).NotEmpty().WithMessage("Name the virtual account.");
        this.AddLimitRule(x => x.Limit);
    }
}

public sealed class ListApiVirtualAccountAlertsHandler(IQuerySession session, ISender sender, IClock clock)
    : IQueryHandler<ListApiVirtualAccountAlerts, ApiAlerts>
{
    public async ValueTask<ApiAlerts> Handle(ListApiVirtualAccountAlerts query, CancellationToken cancellationToken)
    {
        var virtualAccount = await ApiVirtualAccountScope.FindAsync(session, query.AccountId, query.VirtualAccount, cancellationToken);
        var sync = (await sender.Send(new ListSyncAlerts(), cancellationToken))
            .Where(a => a.AccountId is null || a.AccountId == query.AccountId)
            .Select(a => new ApiAlert(ListApiAlertsHandler.SynchronizationType, a.Severity.ToString(), a.Source, a.Message, a.Time));
        var now = clock.UtcNow;
        var compliance = (await sender.Send(new ListVirtualAccountLicenses(query.AccountId), cancellationToken))
            .Where(l => l.VirtualAccountId == virtualAccount.Id && l.InUse > 0 && l.AccountStatus == ComplianceStatus.OutOfCompliance)
            .Select(l => new ApiAlert(ListApiAlertsHandler.InsufficientLicensesType, nameof(AlertSeverity.Major), l.Name,
                $"{l.Name} ({l.Tag}) is {l.AccountStatusText} in the account: {l.AccountInUse} in use ({l.InUse} in {virtualAccount.Name}), "
                + $"{l.AccountPurchased} purchased, {-l.AccountAvailable} short.", now));
        var alerts = sync.Concat(compliance)
            .OrderByDescending(a => a.Severity == nameof(AlertSeverity.Major)).ThenByDescending(a => a.Time);
        return new ApiAlerts(ApiLimit.Apply(alerts, query.Limit));
    }
}
