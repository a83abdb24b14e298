using Ssm.Domain.Backups;
using Ssm.Domain.Events;

namespace Ssm.Application.Backups;

public sealed record BackupDownload(string FileName, Stream Content);

/// <summary>
/// Opens one backup file of this node's folder for download, by its name only: a path, "..", or any other file of the
/// folder is refused before the disk is touched. Every download is in the Event Log.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record DownloadBackup(string FileName) : ICommand<BackupDownload>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => FileName;
}

public sealed class DownloadBackupValidator : AbstractValidator<DownloadBackup>
{
    public DownloadBackupValidator() =>
        RuleFor(x => x.FileName).Must(BackupFileName.IsValid).WithMessage("'{PropertyValue}' is not the name of a backup.");
}

public sealed class DownloadBackupHandler(IDocumentSession session, IBackupFolder folder, ICurrentUser user, IClock clock,
    Microsoft.Extensions.Options.IOptions<Ha.NodeOptions> node) : ICommandHandler<DownloadBackup, BackupDownload>
{
    public async ValueTask<BackupDownload> Handle(DownloadBackup command, CancellationToken cancellationToken)
    {
        var run = await session.Query<BackupRun>().FirstOrDefaultAsync(r => r.FileName == command.FileName, cancellationToken);
        if (run is not null && run.Node != node.Value.Name)
            throw new NotFoundException($"{command.FileName} is in the backup folder of {run.Node}, not of {node.Value.Name}.");
        var content = folder.OpenRead(command.FileName) ?? throw new NotFoundException($"There is no backup {command.FileName} on {node.Value.Name}.");
        session.RecordSuccess(command, user, clock, $"from {node.Value.Name}");
        try
        {
            await session.SaveChangesAsync(cancellationToken);
        }
        catch
        {
            await content.DisposeAsync();
            throw;
        }
        return new BackupDownload(command.FileName, content);
    }
}
