using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Notifications;
using Ssm.Domain.Notifications;

namespace Ssm.Web.Endpoints;

/// <summary>Syslog and e-mail notification settings, and their "send test".</summary>
public static class NotificationEndpoints
{
    public static IEndpointRouteBuilder MapNotificationEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/notifications");
        group.MapGet("/", Get);
        group.MapPut("/", Set);
        group.MapPost("/test/{channel}", Test);
        return app;
    }

    public sealed record TestResult(string Message);

    private static async Task<Ok<NotificationSettingsDto>> Get(ISender sender) => TypedResults.Ok(await sender.Send(new GetNotificationSettings()));

    private static async Task<Ok<NotificationSettingsDto>> Set(ISender sender, SetNotificationSettings body) => TypedResults.Ok(await sender.Send(body));

    private static async Task<Ok<TestResult>> Test(ISender sender, NotificationChannel channel) =>
        TypedResults.Ok(new TestResult(await sender.Send(new SendTestNotification(channel))));
}
