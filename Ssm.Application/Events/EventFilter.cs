using Ssm.Domain.Events;

namespace Ssm.Application.Events;

/// <summary>The Event Log's filter, shared by the page's query and the CSV export so both show the same entries.</summary>
internal static class EventFilter
{
    public static IQueryable<EventLogEntry> Apply(IQueryable<EventLogEntry> events, AccountScope scope, EventCategory? category,
        EventOutcome? outcome, DateTimeOffset? from, DateTimeOffset? to, EventSort sort) =>
        Order(Filter(events, scope, category, outcome, from, to), sort == EventSort.NewestFirst);

    public static IQueryable<EventLogEntry> Filter(IQueryable<EventLogEntry> events, AccountScope scope, EventCategory? category,
        EventOutcome? outcome, DateTimeOffset? from, DateTimeOffset? to)
    {
        if (!scope.IsAll)
        {
            // Entries about no account (the cluster, users, sign-ins) are for users of every account only.
            var reachable = scope.AccountIds.Select(id => (Guid?)id).ToArray();
            events = events.Where(e => reachable.Contains(e.AccountId));
        }
        if (category is { } c)
            events = events.Where(e => e.Category == c);
        if (outcome is { } o)
            events = events.Where(e => e.Outcome == o);
        if (from is { } f)
            events = events.Where(e => e.At >= f);
        if (to is { } t)
            events = events.Where(e => e.At <= t);
        return events;
    }

    /// <summary>By time, then id: the order is total, so a page can be sought from its neighbour's last entry.</summary>
    public static IQueryable<EventLogEntry> Order(IQueryable<EventLogEntry> events, bool descending) =>
        descending ? events.OrderByDescending(e => e.At).ThenByDescending(e => e.Id) : events.OrderBy(e => e.At).ThenBy(e => e.Id);

    public static readonly SeekKey[] Keys = [SeekKey.Timestamp(nameof(EventLogEntry.At))];
}
