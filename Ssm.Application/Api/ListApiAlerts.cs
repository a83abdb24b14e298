using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain.Licenses;

namespace Ssm.Application.Api;

public sealed record ApiAlert(string MessageType, string Severity, string Source, string Message, DateTimeOffset Time);

public sealed record ApiAlerts(IReadOnlyList<ApiAlert> Alerts);

/// <summary>
/// An account's alerts as the API toolkit shows them: the synchronization alerts that concern it (its own, and a
/// failed synchronization of all accounts) and one Major alert per license tag it is out of compliance with.
/// Major first, newest first.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiAlerts(Guid AccountId, int Limit = ApiLimit.All) : IQuery<ApiAlerts>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListApiAlertsValidator : AbstractValidator<ListApiAlerts>
{
    public ListApiAlertsValidator() => this.AddLimitRule(x => x.Limit);
}

public sealed class ListApiAlertsHandler(ISender sender, IClock clock) : IQueryHandler<ListApiAlerts, ApiAlerts>
{
    public const string SynchronizationType = "Synchronization";
    public const string InsufficientLicensesType = "Insufficient Licenses";

    public async ValueTask<ApiAlerts> Handle(ListApiAlerts query, CancellationToken cancellationToken)
    {
        var sync = (await sender.Send(new ListSyncAlerts(), cancellationToken))
            .Where(a => a.AccountId is null || a.AccountId == query.AccountId)
            .Select(a => new ApiAlert(SynchronizationType, a.Severity.ToString(), a.Source, a.Message, a.Time));
        var now = clock.UtcNow;
        var compliance = (await sender.Send(new ListLicenses(query.AccountId), cancellationToken))
            .Where(l => l.Status == ComplianceStatus.OutOfCompliance)
            .Select(l => new ApiAlert(InsufficientLicensesType, nameof(AlertSeverity.Major), l.Name,
                $"{l.Name} ({l.Tag}) is {l.StatusText}: {l.InUse} in use, {l.Purchased} purchased, {-l.Available} short.", now));
        var alerts = sync.Concat(compliance)
            .OrderByDescending(a => a.Severity == nameof(AlertSeverity.Major)).ThenByDescending(a => a.Time);
        return new ApiAlerts(ApiLimit.Apply(alerts, query.Limit));
    }
}
