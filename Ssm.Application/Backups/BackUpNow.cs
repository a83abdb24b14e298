using Ssm.Domain.Backups;

namespace Ssm.Application.Backups;

/// <summary>The "Back up now" button: a backup into this node's folder with the schedule's passphrase and retention; its failure is the run's result.</summary>
[Sender(SenderRole.Admin)]
public sealed record BackUpNow : ICommand<BackupRunDto>;

public sealed class BackUpNowHandler(BackupRunner runner, ICurrentUser user) : ICommandHandler<BackUpNow, BackupRunDto>
{
    public async ValueTask<BackupRunDto> Handle(BackUpNow command, CancellationToken cancellationToken) =>
        BackupRunDto.From(await runner.RunAsync(BackupTrigger.Manual, user.Name, cancellationToken));
}
