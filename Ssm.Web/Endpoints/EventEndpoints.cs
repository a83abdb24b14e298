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
        return app;
    }

    // Enum-typed parameters: anything but a known name or number is refused with 400 before a query exists.
    private static async Task<Ok<Page<EventDto>>> List(ISender sender, EventCategory? category, EventOutcome? outcome,
        DateTimeOffset? from, DateTimeOffset? to, EventSort? sort, int? page, int? pageSize) =>
        TypedResults.Ok(await sender.Send(new ListEvents(category, outcome, from, to, sort ?? EventSort.NewestFirst, page ?? 1, pageSize ?? 25)));
}
