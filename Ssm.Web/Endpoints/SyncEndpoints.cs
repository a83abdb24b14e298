using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Sync;

namespace Ssm.Web.Endpoints;

/// <summary>CSC activation, synchronization, its schedule, history and alerts.</summary>
public static class SyncEndpoints
{
    public static IEndpointRouteBuilder MapSyncEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/accounts/{id:guid}/activation", RequestActivation);
        app.MapPost("/api/accounts/{id:guid}/token", RenewToken);
        var sync = app.MapGroup("/api/sync");
        sync.MapPost("/", SynchronizeNow);
        sync.MapGet("/runs", Runs);
        sync.MapGet("/schedule", Schedule);
        sync.MapPut("/schedule", SetSchedule);
        app.MapGet("/api/alerts", Alerts);
        return app;
    }

    public sealed record CredentialsBody(string User, string Password);

    public sealed record SyncBody(Guid? AccountId);

    private static async Task<Ok<AccountDto>> RequestActivation(ISender sender, Guid id, CredentialsBody body) =>
        TypedResults.Ok(await sender.Send(new RequestActivation(id, new CscCredentials(body.User ?? "", body.Password ?? ""))));

    private static async Task<Ok<AccountDto>> RenewToken(ISender sender, Guid id, CredentialsBody body) =>
        TypedResults.Ok(await sender.Send(new RenewAccountToken(id, new CscCredentials(body.User ?? "", body.Password ?? ""))));

    private static async Task<Accepted<SyncRunDto>> SynchronizeNow(ISender sender, SyncBody? body)
    {
        var run = await sender.Send(new SynchronizeNow(body?.AccountId));
        return TypedResults.Accepted($"/api/sync/runs/{run.Id}", run);
    }

    private static async Task<Ok<Page<SyncRunDto>>> Runs(ISender sender, int? page, int? pageSize, string? after, string? before, bool? last) =>
        TypedResults.Ok(await sender.Send(new ListSyncRuns(page ?? 1, pageSize ?? 20, after, before, last ?? false)));

    private static async Task<Ok<SyncScheduleDto>> Schedule(ISender sender) => TypedResults.Ok(await sender.Send(new GetSyncSchedule()));

    private static async Task<Ok<SyncScheduleDto>> SetSchedule(ISender sender, SetSyncSchedule command) => TypedResults.Ok(await sender.Send(command));

    private static async Task<Ok<IReadOnlyList<SyncAlert>>> Alerts(ISender sender) => TypedResults.Ok(await sender.Send(new ListSyncAlerts()));
}

/// <summary>Offline synchronization by files: the request file to take to CSC, and CSC's response file.</summary>
public static class OfflineSyncEndpoints
{
    public static IEndpointRouteBuilder MapOfflineSyncEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/sync/offline/request", Request);
        app.MapPost("/api/sync/offline/response", Response);
        return app;
    }

    private static async Task<FileContentHttpResult> Request(ISender sender)
    {
        var file = await sender.Send(new CreateOfflineRequest());
        return TypedResults.File(System.Text.Encoding.UTF8.GetBytes(file.Json), "application/json", file.FileName);
    }

    private static async Task<Ok<OfflineApplied>> Response(ISender sender, HttpRequest request)
    {
        using var reader = new StreamReader(request.Body, System.Text.Encoding.UTF8);
        var json = await reader.ReadToEndAsync();
        return TypedResults.Ok(await sender.Send(new ApplyOfflineResponse(json)));
    }
}
