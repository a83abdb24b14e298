using Ssm.Domain.Events;

namespace Ssm.Application.Events;

public enum EventSort
{
    NewestFirst,
    OldestFirst,
}

public sealed record EventDto(DateTimeOffset At, string Actor, EventCategory Category, string Action, string Subject,
    EventOutcome Outcome, string Detail)
{
    public static EventDto From(EventLogEntry e) => new(e.At, e.Actor, e.Category, e.Action, e.Subject, e.Outcome, e.Detail);
}

/// <summary>
/// Filters are enums and instants only, never text spliced into SQL: the filter that SSM On-Prem
/// itself once exposed to SQL injection cannot carry anything but these values here.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListEvents(
    EventCategory? Category = null,
    EventOutcome? Outcome = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    EventSort Sort = EventSort.NewestFirst,
    int PageNumber = 1,
    int PageSize = 25,
    string? After = null,
    string? Before = null,
    bool Last = false) : IQuery<Page<EventDto>>, ISeekPaged, IScopedByHandler;

public sealed class ListEventsValidator : AbstractValidator<ListEvents>
{
    public ListEventsValidator()
    {
        this.AddSeekRules(_ => EventFilter.Keys.Length);
        RuleFor(x => x.Category).IsInEnum();
        RuleFor(x => x.Outcome).IsInEnum();
        RuleFor(x => x.Sort).IsInEnum();
        RuleFor(x => x.To).GreaterThanOrEqualTo(x => x.From).When(x => x.From is not null && x.To is not null)
            .WithMessage("'To' must not be before 'From'.");
    }
}

public sealed class ListEventsHandler(IQuerySession session, ICurrentUser user) : IQueryHandler<ListEvents, Page<EventDto>>
{
    public async ValueTask<Page<EventDto>> Handle(ListEvents query, CancellationToken cancellationToken)
    {
        var events = EventFilter.Filter(session.Query<EventLogEntry>(), user.Accounts, query.Category, query.Outcome, query.From, query.To);
        var descending = query.Sort == EventSort.NewestFirst;
        var (rows, pageNumber, previous, next) = await Seek.PageAsync(events, query, descending, EventFilter.Keys,
            (rows, backward) => EventFilter.Order(rows, descending != backward), rows => rows,
            e => new PageCursor([PageCursor.Text(e.At)], e.Id), cancellationToken);
        // The whole log is not counted past a hundred thousand entries: the planner's estimate says how many (only for
        // a user of every account: a limited user's entries are counted).
        var (total, estimated) = user.Accounts.IsAll && query is { Category: null, Outcome: null, From: null, To: null }
            ? await TableCount.TotalAsync(session, "ssm.mt_doc_eventlogentry", events, cancellationToken)
            : (await events.CountAsync(cancellationToken), false);
        return new Page<EventDto>(rows.Select(EventDto.From).ToList(), total, pageNumber, query.PageSize)
        {
            Estimated = estimated, Next = next, Previous = previous,
        };
    }
}
