using System.Text.Json;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;
using Ssm.Domain.Accounts;
using Ssm.Domain.Certificates;
using Ssm.Domain.Events;

namespace Ssm.Application.Sync;

/// <summary>
/// Synchronization → Offline → Download request file: every account not rejected, as activation requests
/// (new ones) or with the next batch of unsent items (active ones), and the CSR when the certificate is stale.
/// The items are claimed as for an online upload; whichever answer comes first acknowledges them.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record CreateOfflineRequest : ICommand<OfflineFile>, IAudited
{
    public EventCategory Category => EventCategory.Sync;
    public string Subject => "offline request file";
}

public sealed class CreateOfflineRequestHandler(IDocumentStore documents, IDocumentSession session, ICurrentUser user, IClock clock,
    IOptions<NodeOptions> node, ChangeNotifier notifier) : ICommandHandler<CreateOfflineRequest, OfflineFile>
{
    /// <summary>Items per account in one file: a file stays well under CSC's 64 MB.</summary>
    public const int ItemsPerAccount = 50_000;

    public async ValueTask<OfflineFile> Handle(CreateOfflineRequest command, CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var requestId = $"o-{Guid.CreateVersion7(now):N}";
        var accounts = await session.Query<LocalAccount>().Where(a => a.Status != AccountStatus.Rejected).OrderBy(a => a.Name)
            .ToListAsync(cancellationToken);
        if (accounts.Count == 0)
            throw new ConflictException("There is no account to synchronize: create one first.");
        var entries = new List<OfflineRequestAccount>();
        var items = 0;
        foreach (var account in accounts)
        {
            OfflineItemsBatch? batch = null;
            if (account.Status == AccountStatus.Active && account.CscAccountId is not null)
            {
                if (await UploadBatches.NextAsync(documents, account.Id, ItemsPerAccount, now) is { } claimed)
                {
                    var lines = new List<JsonElement>();
                    await foreach (var line in UploadBatches.LinesOf(documents, claimed.Batch, claimed.Text)
                                       .WithCancellation(cancellationToken))
                        lines.Add(JsonDocument.Parse(line).RootElement.Clone());
                    batch = new OfflineItemsBatch(claimed.Batch.Id, lines);
                    items += lines.Count;
                }
            }
            else if (account.Status == AccountStatus.New)
            {
                account.MarkRequested($"offline:{requestId}", now);
                session.Store(account);
            }
            entries.Add(new OfflineRequestAccount(account.Id, account.Name, account.ContactEmail, account.CscAccountId, batch));
        }
        var certificate = await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken);
        var csr = certificate is { IsStale: true, CsrPem.Length: > 0 } ? certificate.CsrPem : null;
        var file = new OfflineRequestFile(OfflineRequestFile.FormatName, requestId, now, node.Value.Name, entries, csr);
        session.RecordSuccess(command, user, clock, $"{requestId}: {entries.Count} accounts, {items} items{(csr is null ? "" : ", certificate request")}");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Accounts);
        return new OfflineFile($"ssm-offline-request-{now:yyyyMMdd-HHmmss}.json", JsonSerializer.Serialize(file, OfflineJson.Options), entries.Count, items);
    }
}
