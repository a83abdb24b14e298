using FluentValidation;
using Marten;
using Marten.Pagination;
using Mediator;
using Ssm.Application.Common;
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
    int PageSize = 25) : IQuery<Page<EventDto>>, IPaged, IScopedByHandler;

public sealed class ListEventsValidator : AbstractValidator<ListEvents>
{
    public ListEventsValidator()
    {
        this.AddPagingRules();
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
        var events = EventFilter.Apply(session.Query<EventLogEntry>(), user.Accounts, query.Category, query.Outcome, query.From, query.To, query.Sort);
        var page = await events.ToPagedListAsync(query.PageNumber, query.PageSize, cancellationToken);
        return new Page<EventDto>(page.Select(EventDto.From).ToList(), page.TotalItemCount, query.PageNumber, query.PageSize);
    }
}
