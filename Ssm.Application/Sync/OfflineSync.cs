using System.Text.Json;
using FluentValidation;
using System.Text.Json.Serialization;
using Marten;
using Mediator;
using Microsoft.Extensions.Options;
using Ssm.Application.Certificates;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Domain.Accounts;
using Ssm.Domain.Certificates;
using Ssm.Domain.Events;
using Ssm.Domain.Licenses;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

// The files of offline (manual) synchronization, docs/csc-api.md "POST /csc/v1/offline".

public sealed record OfflineItemsBatch(string BatchId, IReadOnlyList<JsonElement> Items);

public sealed record OfflineRequestAccount(Guid LocalAccountId, string Name, string ContactEmail, string? AccountId, OfflineItemsBatch? Batch);

public sealed record OfflineRequestFile(string Format, string RequestId, DateTimeOffset CreatedAt, string OnPremServer,
    IReadOnlyList<OfflineRequestAccount> Accounts, string? Csr)
{
    public const string FormatName = "ssm-offline-request/1";
}

public sealed record OfflineBatchResult(string BatchId, int Accepted, int Duplicates);

public sealed record OfflineResponseAccount(Guid LocalAccountId, ActivationStatus Status, string? AccountId, string? AccessToken,
    DateTimeOffset? ExpiresAt, string? Reason, IReadOnlyList<EntitlementInfo>? Entitlements, OfflineBatchResult? Batch);

public sealed record OfflineCertificate(string Certificate, IReadOnlyList<string> Chain);

public sealed record OfflineResponseFile(string Format, string RequestId, DateTimeOffset CreatedAt, IReadOnlyList<OfflineResponseAccount> Accounts,
    OfflineCertificate? Certificate)
{
    public const string FormatName = "ssm-offline-response/1";
}

public sealed record OfflineFile(string FileName, string Json, int Accounts, int Items);

public static class OfflineJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };
}

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
                    await foreach (var line in (claimed.Lines?.ToAsyncEnumerable() ?? UploadBatches.LinesOf(documents, claimed.Batch.Id))
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

public sealed record OfflineApplied(string RequestId, int Activated, int Pending, int Rejected, int Entitlements, int BatchesAcknowledged,
    bool CertificateSigned, IReadOnlyList<string> Skipped);

/// <summary>Synchronization → Offline → Upload response file: what CSC answered, applied once (applying it again changes nothing).</summary>
[Sender(SenderRole.Admin)]
public sealed record ApplyOfflineResponse(string Json) : ICommand<OfflineApplied>, IAudited
{
    public const int MaxLength = 1024 * 1024;

    public EventCategory Category => EventCategory.Sync;
    public string Subject => "offline response file";

    public override string ToString() => $"ApplyOfflineResponse {{ {Json.Length} characters }}";
}

public sealed class ApplyOfflineResponseValidator : AbstractValidator<ApplyOfflineResponse>
{
    public ApplyOfflineResponseValidator() =>
        RuleFor(x => x.Json).NotEmpty().WithMessage("The response file is empty.")
            .MaximumLength(ApplyOfflineResponse.MaxLength).WithMessage("The response file is larger than 1 MB: it is not a CSC response file.");
}

public sealed class ApplyOfflineResponseHandler(IDocumentStore documents, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<ApplyOfflineResponse, OfflineApplied>
{
    public async ValueTask<OfflineApplied> Handle(ApplyOfflineResponse command, CancellationToken cancellationToken)
    {
        OfflineResponseFile? file;
        try
        {
            file = JsonSerializer.Deserialize<OfflineResponseFile>(command.Json, OfflineJson.Options);
        }
        catch (JsonException ex)
        {
            throw new Domain.DomainException($"The response file is not valid JSON ({ex.Message}).");
        }
        if (file is null || file.Format != OfflineResponseFile.FormatName || file.Accounts is null)
            throw new Domain.DomainException($"This is not a CSC response file (format '{file?.Format}', expected '{OfflineResponseFile.FormatName}').");

        var now = clock.UtcNow;
        int activated = 0, pending = 0, rejected = 0, entitlements = 0, acknowledged = 0;
        var skipped = new List<string>();
        await using var session = documents.LightweightSession();
        foreach (var entry in file.Accounts)
        {
            var account = await session.LoadAsync<LocalAccount>(entry.LocalAccountId, cancellationToken);
            if (account is null)
            {
                skipped.Add($"{entry.LocalAccountId}: no such account here (deleted?)");
                continue;
            }
            switch (entry.Status)
            {
                case ActivationStatus.Approved when entry.AccountId is not null && entry.AccessToken is not null && entry.ExpiresAt is not null:
                    if (account.Status == AccountStatus.New)
                        account.MarkRequested($"offline:{file.RequestId}", now);
                    if (account.Status == AccountStatus.Active)
                        account.RenewToken(entry.AccessToken, entry.ExpiresAt.Value, now);
                    else if (account.Status == AccountStatus.Requested)
                    {
                        account.Activate(entry.AccountId, entry.AccessToken, entry.ExpiresAt.Value, now);
                        activated++;
                    }
                    account.LastSyncAt = now;
                    if (entry.Entitlements is { } list)
                    {
                        Licenses.Entitlements.Replace(session, account.Id, list, now);
                        entitlements += list.Count;
                    }
                    break;
                case ActivationStatus.Rejected when account.Status is AccountStatus.Requested or AccountStatus.New:
                    if (account.Status == AccountStatus.New)
                        account.MarkRequested($"offline:{file.RequestId}", now);
                    account.Reject(entry.Reason ?? "rejected by CSC", now);
                    rejected++;
                    break;
                case ActivationStatus.Pending:
                    pending++;
                    break;
            }
            session.Store(account);
            if (entry.Batch is { } batch)
            {
                var stored = await session.LoadAsync<UploadBatch>(batch.BatchId, cancellationToken);
                if (stored is not null && stored.AccountId == account.Id && stored.Acknowledge(batch.Accepted, batch.Duplicates, now))
                {
                    session.Store(stored);
                    acknowledged++;
                }
            }
        }
        session.Store(EventLogEntry.Record(now, user.Name, EventCategory.Sync, nameof(ApplyOfflineResponse), file.RequestId, EventOutcome.Success,
            $"{activated} activated, {pending} pending, {rejected} rejected, {entitlements} licenses, {acknowledged} batches acknowledged"));
        await session.SaveChangesAsync(cancellationToken);

        var signed = false;
        if (file.Certificate is { } certificate)
        {
            await using var query = documents.QuerySession();
            var name = (await query.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken))?.HostCommonName;
            if (name is not null)
                signed = await SignedCertificates.ApplyAsync(documents, new SignedCertificate(certificate.Certificate, certificate.Chain), name, clock, notifier);
        }
        notifier.Publish(ChangeTopic.Accounts);
        notifier.Publish(ChangeTopic.Licenses);
        notifier.Publish(ChangeTopic.Events);
        return new OfflineApplied(file.RequestId, activated, pending, rejected, entitlements, acknowledged, signed, skipped);
    }
}
