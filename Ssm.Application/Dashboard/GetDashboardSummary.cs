using Ssm.Application.Events;
using Ssm.Application.Licenses;
using Ssm.Application.Products;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Products;

namespace Ssm.Application.Dashboard;

/// <summary>
/// The dashboard's counters. <see cref="ProductInstancesEstimated"/>: past 100,000 instances their number is
/// PostgreSQL's estimate, not a count of every row.
/// </summary>
public sealed record DashboardSummary(int Accounts, int EventsToday, IReadOnlyList<EventDto> LatestEvents)
{
    public long ProductInstances { get; init; }
    public bool ProductInstancesEstimated { get; init; }
    public long LicensesInUse { get; init; }
    public int LicensesOutOfCompliance { get; init; }
}

[Sender(SenderRole.Viewer)]
public sealed record GetDashboardSummary : IQuery<DashboardSummary>, IScopedByHandler;

public sealed class GetDashboardSummaryHandler(IQuerySession session, IClock clock, ISender sender, ICurrentUser user) : IQueryHandler<GetDashboardSummary, DashboardSummary>
{
    public async ValueTask<DashboardSummary> Handle(GetDashboardSummary query, CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var startOfDay = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        IQueryable<LocalAccount> reachableAccounts = session.Query<LocalAccount>();
        IQueryable<EventLogEntry> events = session.Query<EventLogEntry>();
        IQueryable<ProductInstance> products = session.Query<ProductInstance>();
        if (!user.Accounts.IsAll)
        {
            // The counters of a user limited to some accounts are over those accounts only.
            var reachable = user.Accounts.AccountIds.ToArray();
            var reachableIds = reachable.Select(id => (Guid?)id).ToArray();
            reachableAccounts = reachableAccounts.Where(a => reachable.Contains(a.Id));
            events = events.Where(e => reachableIds.Contains(e.AccountId));
            products = products.Where(p => reachable.Contains(p.AccountId));
        }
        var accounts = await reachableAccounts.CountAsync(cancellationToken);
        var eventsToday = await events.CountAsync(e => e.At >= startOfDay, cancellationToken);
        var latest = await events.OrderByDescending(e => e.At).Take(8).ToListAsync(cancellationToken);
        var (instances, kind) = user.Accounts.IsAll
            ? await ProductInstanceCount.TotalAsync(session, cancellationToken)
            : (await products.LongCountAsync(cancellationToken), TotalKind.Exact);
        var licenses = await sender.Send(new ListLicenses(), cancellationToken);
        return new DashboardSummary(accounts, eventsToday, latest.Select(EventDto.From).ToList())
        {
            ProductInstances = instances,
            ProductInstancesEstimated = kind == TotalKind.Estimate,
            LicensesInUse = licenses.Sum(l => (long)l.InUse),
            LicensesOutOfCompliance = licenses.Count(l => l.Status == Domain.Licenses.ComplianceStatus.OutOfCompliance),
        };
    }
}
