using System.Collections.Concurrent;
using System.Diagnostics;
using EventLogEntry = Ssm.Domain.Events.EventLogEntry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ssm.Domain.Accounts;
using Ssm.Application.Certificates;
using Ssm.Domain.Certificates;
using Ssm.Domain.Events;
using Ssm.Domain.Licenses;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>
/// Runs synchronizations with CSC in the background of the active node, one at a time, and writes their
/// progress into the <see cref="SyncRun"/> document (the history and the live view are the same rows).
/// Every step can be repeated: a run that dies (crash, failover) is marked Interrupted by the next active
/// node, which runs again; claimed upload batches are resent under their id, which CSC counts once.
/// </summary>
public sealed class SyncRunner(
    IDocumentStore documents,
    ICscClient csc,
    ClusterSupervisor cluster,
    IOptions<NodeOptions> node,
    IClock clock,
    ChangeNotifier notifier,
    ILogger<SyncRunner> logger)
{
    public const int BatchSize = 20_000;
    private const int UploadsInFlight = 2;
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly ConcurrentDictionary<Guid, Task> _live = new();

    public bool IsLive(Guid runId) => _live.ContainsKey(runId);

    /// <summary>Creates the run and starts it; throws <see cref="ConflictException"/> while another runs.</summary>
    public async Task<SyncRun> StartAsync(SyncTrigger trigger, Guid? accountId, string startedBy, Action<IDocumentSession>? alsoStore,
        CancellationToken cancellationToken)
    {
        if (!cluster.AcceptsWrites)
            throw new ConflictException($"Synchronization runs on the active node; {cluster.Name} is {cluster.Role}.");
        if (!csc.Configured)
            throw new ConflictException("No CSC address is configured (Csc:Url): this node cannot synchronize.");
        if (!await _one.WaitAsync(0, cancellationToken))
            throw new ConflictException("A synchronization is already running on this node; wait for it to finish.");
        try
        {
            await using var session = documents.LightweightSession();
            var running = await session.Query<SyncRun>().Where(r => r.Result == SyncResult.Running).ToListAsync(cancellationToken);
            foreach (var stale in running.Where(r => !IsLive(r.Id)))
            {
                stale.Finish(SyncResult.Interrupted, $"{stale.Node} stopped during the run (stage: {stale.Stage}); resumed by a later run", clock.UtcNow);
                session.Store(stale);
            }
            if (running.FirstOrDefault(r => IsLive(r.Id)) is { } busy)
                throw new ConflictException($"A synchronization ({busy.Scope}) started at {busy.StartedAt:u} is still running.");
            string scope;
            if (accountId is { } id)
            {
                var account = await session.LoadAsync<LocalAccount>(id, cancellationToken)
                    ?? throw new NotFoundException($"Account {id} does not exist.");
                if (account.Status is AccountStatus.New or AccountStatus.Rejected)
                    throw new ConflictException($"Account '{account.Name}' is {account.Status}: request its activation first.");
                scope = account.Name;
            }
            else
                scope = "all accounts";
            var run = SyncRun.Start(trigger, accountId, scope, node.Value.Name, startedBy, clock.UtcNow);
            session.Store(run);
            alsoStore?.Invoke(session);
            await session.SaveChangesAsync(cancellationToken);
            _live[run.Id] = Task.Run(() => ExecuteAsync(run));
            notifier.Publish(ChangeTopic.Sync);
            return run;
        }
        catch
        {
            _one.Release();
            throw;
        }
    }

    /// <summary>Waits for a run started here to end (tests, shutdown).</summary>
    public Task WaitAsync(Guid runId) => _live.TryGetValue(runId, out var task) ? task : Task.CompletedTask;

    private async Task ExecuteAsync(SyncRun run)
    {
        var errors = new List<string>();
        try
        {
            List<LocalAccount> accounts;
            await using (var query = documents.QuerySession())
            {
                accounts = run.AccountId is { } id
                    ? (await query.LoadAsync<LocalAccount>(id) is { } one ? [one] : [])
                    : [.. await query.Query<LocalAccount>()
                        .Where(a => a.Status == AccountStatus.Requested || a.Status == AccountStatus.Active)
                        .OrderBy(a => a.Name).ToListAsync()];
            }
            for (var i = 0; i < accounts.Count; i++)
            {
                var progress = new Progress(this, run, accounts[i].Name, i, accounts.Count);
                try
                {
                    await SyncAccountAsync(accounts[i].Id, run, progress);
                }
                catch (Exception ex) when (ex is CscUnreachableException or CscTokenExpiredException or CscRefusedException or ConflictException
                                               or Domain.DomainException)
                {
                    logger.LogWarning("Sync of {Account} failed: {Error}", accounts[i].Name, ex.Message);
                    errors.Add($"{accounts[i].Name}: {ex.Message}");
                }
                if (!cluster.AcceptsWrites)
                    throw new NodeNotActiveException();
            }
            await FinishAsync(run, errors.Count == 0 ? SyncResult.Succeeded : SyncResult.Failed, errors.Count == 0 ? null : string.Join(" · ", errors));
        }
        catch (NodeNotActiveException)
        {
            logger.LogWarning("Sync run {Run} stopped: this node is no longer active; the new active resumes it", run.Id);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Sync run {Run} failed", run.Id);
            await FinishAsync(run, SyncResult.Failed, $"{string.Join(" · ", errors.Append(ex.Message))}");
        }
        finally
        {
            _live.TryRemove(run.Id, out _);
            _one.Release();
            notifier.Publish(ChangeTopic.Sync);
        }
    }

    private async Task FinishAsync(SyncRun run, SyncResult result, string? error)
    {
        try
        {
            run.Finish(result, error, clock.UtcNow);
            await using var session = documents.LightweightSession();
            session.Store(run);
            session.Store(EventLogEntry.Record(clock.UtcNow, run.StartedBy, EventCategory.Sync, "Synchronize", run.Scope,
                result == SyncResult.Succeeded ? EventOutcome.Success : EventOutcome.Failure,
                $"{run.Trigger}: {run.ItemsDown} down, {run.ItemsUp} up{(error is null ? "" : $"; {error}")}"));
            await session.SaveChangesAsync();
            notifier.Publish(ChangeTopic.Events);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The node may have lost the database meanwhile; the next active marks the run interrupted.
            logger.LogWarning("Could not record the end of sync run {Run}: {Error}", run.Id, ex.Message);
        }
    }

    private async Task SyncAccountAsync(Guid accountId, SyncRun run, Progress progress)
    {
        await using var session = documents.LightweightSession();
        var account = await session.LoadAsync<LocalAccount>(accountId) ?? throw new ConflictException("the account was deleted meanwhile");
        if (account.Status == AccountStatus.Requested && account.ActivationRequestId!.StartsWith("offline:", StringComparison.Ordinal))
        {
            // Requested in an offline request file: CSC answers in the response file, not online.
            await progress.ReportAsync("requested offline: awaiting the response file", 100);
            return;
        }
        if (account.Status == AccountStatus.Requested)
        {
            await progress.ReportAsync("checking activation", 0);
            ActivationReply reply;
            try
            {
                reply = await csc.GetActivationAsync(account.ActivationRequestId!, CancellationToken.None);
            }
            catch (CscRefusedException refused) when (refused.Code == CscRefusedException.AccountRejected)
            {
                reply = new ActivationReply(account.ActivationRequestId!, ActivationStatus.Rejected, null, null, null, refused.Reason);
            }
            switch (reply.Status)
            {
                case ActivationStatus.Approved:
                    account.Activate(reply.AccountId!, reply.AccessToken!, reply.ExpiresAt!.Value, clock.UtcNow);
                    break;
                case ActivationStatus.Rejected:
                    account.Reject(reply.Reason ?? "rejected by CSC", clock.UtcNow);
                    session.Store(account);
                    await session.SaveChangesAsync();
                    notifier.Publish(ChangeTopic.Accounts);
                    throw new CscRefusedException(CscRefusedException.AccountRejected, $"the activation was rejected: {account.RejectionReason}");
                default:
                    await progress.ReportAsync("awaiting approval at CSC", 100);
                    return;
            }
            session.Store(account);
            await session.SaveChangesAsync();
            notifier.Publish(ChangeTopic.Accounts);
        }
        if (account.TokenExpired(clock.UtcNow))
            throw new CscTokenExpiredException(TokenExpiredText(account));
        try
        {
            await DownloadEntitlementsAsync(account, run, progress);
            await UploadAsync(account, run, progress);
            await SignCertificateIfStaleAsync(account, progress);
        }
        catch (CscTokenExpiredException)
        {
            // CSC's clock decides: the token is expired now, whatever this node thought, so the alert shows.
            await using var expired = documents.LightweightSession();
            if (await expired.LoadAsync<LocalAccount>(accountId) is { } stored && stored.TokenExpiresAt > clock.UtcNow)
            {
                stored.TokenExpiresAt = clock.UtcNow;
                expired.Store(stored);
                await expired.SaveChangesAsync();
                account = stored;
                notifier.Publish(ChangeTopic.Accounts);
            }
            throw new CscTokenExpiredException(TokenExpiredText(account));
        }
        await using var done = documents.LightweightSession();
        var fresh = await done.LoadAsync<LocalAccount>(accountId);
        if (fresh is not null)
        {
            fresh.LastSyncAt = clock.UtcNow;
            done.Store(fresh);
            await done.SaveChangesAsync();
            notifier.Publish(ChangeTopic.Accounts);
        }
        await progress.ReportAsync("done", 100);
    }

    public static string TokenExpiredText(LocalAccount account) =>
        $"the CSC access token expired on {account.TokenExpiresAt:u}: re-authenticate the account with CSC credentials (Accounts → Re-authenticate)";

    private async Task DownloadEntitlementsAsync(LocalAccount account, SyncRun run, Progress progress)
    {
        await progress.ReportAsync("downloading entitlements", 5);
        var entitlements = await csc.GetEntitlementsAsync(account.CscAccountId!, account.AccessToken!, CancellationToken.None);
        await using var session = documents.LightweightSession();
        Licenses.Entitlements.Replace(session, account.Id, entitlements, clock.UtcNow);
        await session.SaveChangesAsync();
        run.ItemsDown += entitlements.Count;
        notifier.Publish(ChangeTopic.Licenses);
    }

    private async Task UploadAsync(LocalAccount account, SyncRun run, Progress progress)
    {
        long pending;
        await using (var query = documents.QuerySession())
            pending = await UploadBatches.PendingAsync(query, account.Id);
        long sent = 0;
        // First whatever an earlier run claimed but did not see acknowledged, then new batches. The next batch is
        // claimed while earlier ones travel, and two uploads are under way at once, so that the database, the node and
        // CSC work at the same time (decision 0041). A batch claimed but never sent or never acknowledged is resent by
        // a later run, like any unacknowledged one; CSC counts no item twice, whichever batch arrives first.
        var handled = new HashSet<string>();
        var inFlight = new Queue<(UploadBatch Batch, TimeSpan ClaimWait, long Started, Task<UploadReply> Reply)>();
        var next = UploadBatches.NextAsync(documents, account.Id, BatchSize, clock.UtcNow);
        try
        {
            while (true)
            {
                if (!cluster.AcceptsWrites)
                    throw new NodeNotActiveException();
                var claiming = Stopwatch.GetTimestamp();
                if (await next is not { Batch: var batch } claimed)
                    break;
                var claimWait = Stopwatch.GetElapsedTime(claiming);
                handled.Add(batch.Id);
                next = UploadBatches.NextAsync(documents, account.Id, BatchSize, clock.UtcNow, new HashSet<string>(handled));
                var text = claimed.Text?.ToAsyncEnumerable() ?? UploadBatches.TextOf(documents, batch);
                inFlight.Enqueue((batch, claimWait, Stopwatch.GetTimestamp(),
                    csc.UploadAsync(account.CscAccountId!, account.AccessToken!, batch.Id, text, resend: claimed.Text is null, CancellationToken.None)));
                if (inFlight.Count >= UploadsInFlight)
                    sent += await CompleteAsync(inFlight.Dequeue(), account, run);
                await progress.ReportAsync($"uploading ({sent:N0} of {pending:N0})", 10 + (int)(90 * sent / Math.Max(1, pending)));
            }
            while (inFlight.Count > 0)
                sent += await CompleteAsync(inFlight.Dequeue(), account, run);
        }
        finally
        {
            // After a failed upload the others end on their own; their batches stay open for a later run.
            foreach (var left in inFlight)
                _ = left.Reply.ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }
        await progress.ReportAsync($"uploaded {sent:N0}", 100);
    }

    private async Task<long> CompleteAsync((UploadBatch Batch, TimeSpan ClaimWait, long Started, Task<UploadReply> Reply) upload,
        LocalAccount account, SyncRun run)
    {
        var (batch, claimWait, started, replying) = upload;
        var reply = await replying;
        await UploadBatches.AcknowledgeAsync(documents, batch.Id, reply.Accepted, reply.Duplicates, clock.UtcNow);
        logger.LogInformation("Batch {Batch} of {Account}: {Items} items ({Accepted} counted, {Duplicates} duplicates); waited {Claim:F0} ms for the claim, upload {Upload:F0} ms",
            batch.Id, account.Name, batch.Items, reply.Accepted, reply.Duplicates, claimWait.TotalMilliseconds, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        run.ItemsUp += batch.Items;
        return batch.Items;
    }

    /// <summary>After a new Host Common Name: CSC signs the waiting CSR; the certificate must carry our key and the name.</summary>
    private async Task SignCertificateIfStaleAsync(LocalAccount account, Progress progress)
    {
        string csr, name;
        await using (var query = documents.QuerySession())
        {
            var certificate = await query.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId);
            if (certificate is null || !certificate.IsStale || certificate.CsrPem.Length == 0)
                return;
            (csr, name) = (certificate.CsrPem, certificate.HostCommonName);
        }
        await progress.ReportAsync($"signing the certificate for {name}", 100);
        var signed = await csc.SignCertificateAsync(account.CscAccountId!, account.AccessToken!, csr, CancellationToken.None);
        await SignedCertificates.ApplyAsync(documents, signed, name, clock, notifier);
    }

    /// <summary>Writes a run's stage and percent at most four times a second, so the page follows it live.</summary>
    private sealed class Progress(SyncRunner runner, SyncRun run, string account, int index, int count)
    {
        private long _last;

        public async Task ReportAsync(string stage, int percentOfAccount)
        {
            var overall = (int)((index * 100 + Math.Clamp(percentOfAccount, 0, 100)) / Math.Max(1, count));
            var final = percentOfAccount >= 100;
            if (!final && _last != 0 && Stopwatch.GetElapsedTime(_last) < ProgressEvery)
                return;
            _last = Stopwatch.GetTimestamp();
            await runner.SaveProgressAsync(run, count > 1 ? $"{account}: {stage}" : stage, overall);
        }
    }

    private async Task SaveProgressAsync(SyncRun run, string stage, int percent)
    {
        run.Progress(stage, percent, clock.UtcNow);
        await using var session = documents.LightweightSession();
        session.Store(run);
        await session.SaveChangesAsync();
        notifier.Publish(ChangeTopic.Sync);
    }

    private sealed class NodeNotActiveException : Exception;
}
