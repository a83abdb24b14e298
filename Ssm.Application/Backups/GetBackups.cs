using Ssm.Domain.Backups;

namespace Ssm.Application.Backups;

/// <summary>The schedule as an admin sees it: the passphrase only as "set" or not.</summary>
public sealed record BackupScheduleDto(bool Enabled, int IntervalHours, int Retention, bool PassphraseSet, DateTimeOffset? NextRunAt,
    string SetBy, DateTimeOffset SetAt)
{
    public static BackupScheduleDto From(BackupSchedule s) =>
        new(s.Enabled, s.IntervalHours, s.Retention, s.PassphraseProtected != "", s.Enabled ? s.NextRunAt : null, s.SetBy, s.SetAt);
}

public sealed record BackupRunDto(Guid Id, BackupTrigger Trigger, string Node, string StartedBy, DateTimeOffset StartedAt, DateTimeOffset? EndedAt,
    string FileName, long SizeBytes, long Rows, BackupResult Result, string? Error)
{
    public TimeSpan? Duration => EndedAt - StartedAt;

    public static BackupRunDto From(BackupRun r) =>
        new(r.Id, r.Trigger, r.Node, r.StartedBy, r.StartedAt, r.EndedAt, r.FileName, r.SizeBytes, r.Rows, r.Result, r.Error);
}

/// <summary>What the Backups page shows: the schedule, this node's folder, whether a backup runs now, and the latest backups.</summary>
public sealed record BackupsDto(BackupScheduleDto Schedule, string Node, string Folder, bool Running, IReadOnlyList<BackupRunDto> Runs);

/// <summary>Backups hold every account's data and the product CA's key: system administrators only (no account scope passes).</summary>
[Sender(SenderRole.Admin)]
public sealed record GetBackups : IQuery<BackupsDto>
{
    public const int Latest = 50;
}

public sealed class GetBackupsHandler(IQuerySession session, IBackupFolder folder, BackupRunner runner,
    Microsoft.Extensions.Options.IOptions<Ha.NodeOptions> node) : IQueryHandler<GetBackups, BackupsDto>
{
    public async ValueTask<BackupsDto> Handle(GetBackups query, CancellationToken cancellationToken)
    {
        var schedule = await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId, cancellationToken) ?? new BackupSchedule();
        var runs = await session.Query<BackupRun>().OrderByDescending(r => r.StartedAt).Take(GetBackups.Latest).ToListAsync(cancellationToken);
        return new BackupsDto(BackupScheduleDto.From(schedule), node.Value.Name, folder.Path, runner.IsRunning, runs.Select(BackupRunDto.From).ToList());
    }
}
