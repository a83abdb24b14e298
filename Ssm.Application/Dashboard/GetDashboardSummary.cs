using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Application.Events;
using Ssm.Application.Licenses;
using Ssm.Application.Products;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

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
public sealed record GetDashboardSummary : IQuery<DashboardSummary>;

public sealed class GetDashboardSummaryHandler(IQuerySession session, IClock clock, ISender sender) : IQueryHandler<GetDashboardSummary, DashboardSummary>
{
    public async ValueTask<DashboardSummary> Handle(GetDashboardSummary query, CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var startOfDay = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        var accounts = await session.Query<LocalAccount>().CountAsync(cancellationToken);
        var eventsToday = await session.Query<EventLogEntry>().CountAsync(e => e.At >= startOfDay, cancellationToken);
        var latest = await session.Query<EventLogEntry>().OrderByDescending(e => e.At).Take(8).ToListAsync(cancellationToken);
        var (instances, kind) = await ProductInstanceCount.TotalAsync(session, cancellationToken);
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
