using Ssm.Application.Notifications;
using Ssm.Domain.Backups;
using Ssm.Domain.Events;

namespace Ssm.Application.Backups;

/// <summary>
/// Sets the backup schedule. <paramref name="Passphrase"/>: null keeps the stored one; otherwise it replaces it, stored
/// encrypted with the node's data protection keys, never shown back (decision 0037).
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record SetBackupSchedule(bool Enabled, int IntervalHours, int Retention, string? Passphrase = null) : ICommand<BackupScheduleDto>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => "backup schedule";

    // The passphrase never reaches a log line.
    public override string ToString() =>
        $"SetBackupSchedule {{ Enabled = {Enabled}, IntervalHours = {IntervalHours}, Retention = {Retention}, Passphrase = {(Passphrase is null ? "kept" : "new")} }}";
}

public sealed class SetBackupScheduleValidator : AbstractValidator<SetBackupSchedule>
{
    public SetBackupScheduleValidator()
    {
        RuleFor(x => x.IntervalHours).InclusiveBetween(1, BackupSchedule.MaximumIntervalHours)
            .WithMessage($"The interval must be 1–{BackupSchedule.MaximumIntervalHours} hours.");
        RuleFor(x => x.Retention).InclusiveBetween(1, BackupSchedule.MaximumRetention)
            .WithMessage($"Keep 1–{BackupSchedule.MaximumRetention} backups.");
        RuleFor(x => x.Passphrase!).Length(BackupSchedule.MinimumPassphraseLength, BackupSchedule.MaximumPassphraseLength)
            .When(x => x.Passphrase is not null)
            .WithMessage($"The passphrase must be {BackupSchedule.MinimumPassphraseLength}–{BackupSchedule.MaximumPassphraseLength} characters.");
    }
}

public sealed class SetBackupScheduleHandler(IDocumentSession session, ISecretProtector secrets, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<SetBackupSchedule, BackupScheduleDto>
{
    public async ValueTask<BackupScheduleDto> Handle(SetBackupSchedule command, CancellationToken cancellationToken)
    {
        var schedule = await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId, cancellationToken) ?? new BackupSchedule();
        schedule.Change(command.Enabled, command.IntervalHours, command.Retention,
            command.Passphrase is null ? null : secrets.Protect(command.Passphrase), user.Name, clock.UtcNow);
        session.Store(schedule);
        session.RecordSuccess(command, user, clock, command.Enabled
            ? $"every {command.IntervalHours} h, keeping {command.Retention}; passphrase {(command.Passphrase is null ? "kept" : "changed")}"
            : "off");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Backups);
        return BackupScheduleDto.From(schedule);
    }
}
