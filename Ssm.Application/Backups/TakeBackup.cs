using Ssm.Domain.Events;

namespace Ssm.Application.Backups;

/// <summary>
/// Writes an online, consistent copy of the node's database to <paramref name="Destination"/> (the console's
/// encrypting stream: this layer never sees the passphrase or the plain file). Only the active node's database
/// is written to, so a standby refuses and names the way.
/// </summary>
[Sender(SenderRole.Internal)]
public sealed record TakeBackup(Stream Destination, string Label) : ICommand<BackupContents>, IAudited
{
    public EventCategory Category => EventCategory.Cluster;
    public string Subject => Label;
}

public sealed class TakeBackupValidator : AbstractValidator<TakeBackup>
{
    public TakeBackupValidator()
    {
        RuleFor(x => x.Destination).NotNull().Must(s => s.CanWrite).WithMessage("The backup's destination must be writable.");
        RuleFor(x => x.Label).NotEmpty().MaximumLength(200);
    }
}

public sealed class TakeBackupHandler(IDatabaseBackup database, IDocumentStore store, ICurrentUser user, IClock clock,
    Microsoft.Extensions.Options.IOptions<Ha.NodeOptions> node, ChangeNotifier notifier) : ICommandHandler<TakeBackup, BackupContents>
{
    public async ValueTask<BackupContents> Handle(TakeBackup command, CancellationToken cancellationToken)
    {
        if (await database.IsStandbyAsync(cancellationToken))
            throw new ConflictException("This database is a standby: take the backup from the active node (ssm backup --db with its connection string).");
        var contents = await database.WriteAsync(command.Destination, node.Value.Name, cancellationToken);

        // The entry is written after the snapshot, so the backup does not hold its own entry.
        await using var session = store.LightweightSession();
        session.RecordSuccess(command, user, clock, $"{contents.Tables} tables, {contents.Rows} rows as at {contents.TakenAt:u}");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return contents;
    }
}
