using System.Text.Json;
using Ssm.Application.Certificates;
using Ssm.Domain.Accounts;
using Ssm.Domain.Certificates;
using Ssm.Domain.Events;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

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
