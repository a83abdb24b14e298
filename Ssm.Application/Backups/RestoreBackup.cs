using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Nodes;
using Ssm.Domain.Products;

namespace Ssm.Application.Backups;

/// <summary>
/// Restores a backup onto a fresh standalone node: one that holds no account or product of its own and is no
/// member of a cluster (ha_deploy builds the cluster again afterwards). Anything else is refused before a row changes.
/// </summary>
[Sender(SenderRole.Internal)]
public sealed record RestoreBackup(Stream Source, string Label) : ICommand<BackupContents>, IAudited
{
    public EventCategory Category => EventCategory.Cluster;
    public string Subject => Label;
}

public sealed class RestoreBackupValidator : AbstractValidator<RestoreBackup>
{
    public RestoreBackupValidator()
    {
        RuleFor(x => x.Source).NotNull().Must(s => s.CanRead).WithMessage("The backup must be readable.");
        RuleFor(x => x.Label).NotEmpty().MaximumLength(200);
    }
}

public sealed class RestoreBackupHandler(IDatabaseBackup database, IDocumentStore store, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<RestoreBackup, BackupContents>
{
    public async ValueTask<BackupContents> Handle(RestoreBackup command, CancellationToken cancellationToken)
    {
        if (await database.IsStandbyAsync(cancellationToken))
            throw new ConflictException("This database is a standby of a cluster: restore onto a fresh standalone node.");
        await using (var query = store.QuerySession())
        {
            var cluster = await query.LoadAsync<ClusterDocument>(ClusterDocument.SingletonId, cancellationToken);
            if (cluster is { TornDown: false } && cluster.PrimaryNode != "")
                throw new ConflictException($"This node is a member of the cluster of {cluster.PrimaryNode} and {cluster.SecondaryNode}: " +
                                            "restore onto a fresh standalone node, then run ha_deploy.");
            if (await query.Query<LocalAccount>().AnyAsync(cancellationToken) || await query.Query<ProductInstance>().AnyAsync(cancellationToken))
                throw new ConflictException("This node holds accounts or products of its own: a backup is restored onto a fresh node only, " +
                                            "so that nothing of it is lost unseen.");
        }

        var contents = await database.RestoreAsync(command.Source, cancellationToken);

        await using var session = store.LightweightSession();
        session.RecordSuccess(command, user, clock, $"{contents.Tables} tables, {contents.Rows} rows of {contents.Node} as at {contents.TakenAt:u}");
        await session.SaveChangesAsync(cancellationToken);
        foreach (var topic in Enum.GetValues<ChangeTopic>())
            notifier.Publish(topic);
        return contents;
    }
}
