using System.Text;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Common;
using Ssm.Application.Events;
using Ssm.Domain.Events;

namespace Ssm.Web.Endpoints;

public static class EventEndpoints
{
    public static IEndpointRouteBuilder MapEventEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/events", List);
        app.MapGet("/api/events.csv", ExportCsv);
        return app;
    }

    // Enum-typed parameters: anything but a known name or number is refused with 400 before a query exists.
    private static async Task<Ok<Page<EventDto>>> List(ISender sender, EventCategory? category, EventOutcome? outcome,
        DateTimeOffset? from, DateTimeOffset? to, EventSort? sort, int? page, int? pageSize, string? after, string? before, bool? last) =>
        TypedResults.Ok(await sender.Send(new ListEvents(category, outcome, from, to, sort ?? EventSort.NewestFirst, page ?? 1, pageSize ?? 25,
            after, before, last ?? false)));

    /// <summary>
    /// The filter's entries as CSV, written while they are read: the query is sent (and so authorized and validated)
    /// before the first byte, and the response never holds more than one buffer of rows.
    /// </summary>
    private static async Task<PushStreamHttpResult> ExportCsv(ISender sender, HttpContext http, EventCategory? category, EventOutcome? outcome,
        DateTimeOffset? from, DateTimeOffset? to, EventSort? sort)
    {
        var rows = await sender.Send(new ExportEvents(category, outcome, from, to, sort ?? EventSort.NewestFirst));
        var name = $"event-log-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}.csv";
        return TypedResults.Stream(stream => WriteCsvAsync(rows, stream, http.RequestAborted), "text/csv; charset=utf-8", name);
    }

    private static async Task WriteCsvAsync(IAsyncEnumerable<EventDto> rows, Stream body, CancellationToken aborted)
    {
        // Asynchronous writes only: Kestrel refuses synchronous ones, which a full StreamWriter buffer would make.
        await using var writer = new StreamWriter(body, new UTF8Encoding(false), 64 * 1024);
        await writer.WriteAsync(EventCsv.Header);
        var line = new StringBuilder(512);
        var count = 0;
        await foreach (var row in rows.WithCancellation(aborted))
        {
            EventCsv.AppendRow(line, row);
            if (++count % 256 != 0)
                continue;
            await writer.WriteAsync(line);
            line.Clear();
        }
        await writer.WriteAsync(line);
        await writer.FlushAsync();
    }
}
