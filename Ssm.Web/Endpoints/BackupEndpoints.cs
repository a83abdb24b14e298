using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Backups;

namespace Ssm.Web.Endpoints;

/// <summary>The Backups page's API (decision 0037): system administrators only, as every message here declares.</summary>
public static class BackupEndpoints
{
    public static IEndpointRouteBuilder MapBackupEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/backups");
        group.MapGet("/", List);
        group.MapPut("/schedule", SetSchedule);
        group.MapPost("/", BackUpNow);
        group.MapGet("/files/{fileName}", Download);
        return app;
    }

    private static async Task<Ok<BackupsDto>> List(ISender sender) => TypedResults.Ok(await sender.Send(new GetBackups()));

    private static async Task<Ok<BackupScheduleDto>> SetSchedule(ISender sender, SetBackupSchedule body) => TypedResults.Ok(await sender.Send(body));

    private static async Task<Ok<BackupRunDto>> BackUpNow(ISender sender) => TypedResults.Ok(await sender.Send(new BackUpNow()));

    /// <summary>Streamed from the file: the response holds one buffer of it at a time, however large the backup.</summary>
    private static async Task<FileStreamHttpResult> Download(ISender sender, string fileName)
    {
        var download = await sender.Send(new DownloadBackup(fileName));
        return TypedResults.File(download.Content, "application/octet-stream", download.FileName);
    }
}
