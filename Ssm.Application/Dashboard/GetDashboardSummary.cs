using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Application.Events;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;

namespace Ssm.Application.Dashboard;

public sealed record DashboardSummary(int Accounts, int EventsToday, IReadOnlyList<EventDto> LatestEvents);

public sealed record GetDashboardSummary : IQuery<DashboardSummary>;

public sealed class GetDashboardSummaryHandler(IQuerySession session, IClock clock) : IQueryHandler<GetDashboardSummary, DashboardSummary>
{
    public async ValueTask<DashboardSummary> Handle(GetDashboardSummary query, CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var startOfDay = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        var accounts = await session.Query<LocalAccount>().CountAsync(cancellationToken);
        var eventsToday = await session.Query<EventLogEntry>().CountAsync(e => e.At >= startOfDay, cancellationToken);
        var latest = await session.Query<EventLogEntry>().OrderByDescending(e => e.At).Take(8).ToListAsync(cancellationToken);
        return new DashboardSummary(accounts, eventsToday, latest.Select(EventDto.From).ToList());
    }
}
