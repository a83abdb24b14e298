using Ssm.Domain.Events;

namespace Ssm.Application.Events;

/// <summary>
/// Every entry of the Event Log's filter, read row by row from PostgreSQL as the caller consumes them (the CSV
/// export), so a million entries never sit in memory together. The sequence reads through the sender's session:
/// consume it inside the scope that sent the query.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ExportEvents(
    EventCategory? Category = null,
    EventOutcome? Outcome = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    EventSort Sort = EventSort.NewestFirst) : IQuery<IAsyncEnumerable<EventDto>>, IScopedByHandler;

public sealed class ExportEventsValidator : AbstractValidator<ExportEvents>
{
    public ExportEventsValidator()
    {
        RuleFor(x => x.Category).IsInEnum();
        RuleFor(x => x.Outcome).IsInEnum();
        RuleFor(x => x.Sort).IsInEnum();
        RuleFor(x => x.To).GreaterThanOrEqualTo(x => x.From).When(x => x.From is not null && x.To is not null)
            .WithMessage("'To' must not be before 'From'.");
    }
}

public sealed class ExportEventsHandler(IQuerySession session, ICurrentUser user) : IQueryHandler<ExportEvents, IAsyncEnumerable<EventDto>>
{
    public ValueTask<IAsyncEnumerable<EventDto>> Handle(ExportEvents query, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Read(query));

    private async IAsyncEnumerable<EventDto> Read(ExportEvents query,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var events = EventFilter.Apply(session.Query<EventLogEntry>(), user.Accounts, query.Category, query.Outcome, query.From, query.To, query.Sort);
        // Marten's ToAsyncEnumerable reads from an open data reader, one row at a time.
        await foreach (var entry in events.ToAsyncEnumerable(cancellationToken))
            yield return EventDto.From(entry);
    }
}
