using System.Threading.Channels;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

/// <summary>
/// Takes in the usage reports of concurrent requests together (decision 0039): one read of their products, current
/// usage and already received reports, and one transaction (one synchronous replication round trip, one WAL flush)
/// for every request waiting at that moment, instead of two round trips and a commit each. As with registrations
/// (decision 0014) nobody waits for a batch to fill. Each request is still judged alone: a forged signature, an expired
/// certificate or a replay fails only its own request, and reports of one product in the same batch merge in turn.
/// A product's requests always go to the same writer, so two batches never race for its usage; when a commit is
/// refused anyway (its usage changed or a report was stored by another node or request), or refused for what one
/// request wrote, every request of the batch is taken in again alone, read afresh, and retried as a lone report always
/// was; a connection failing fails the whole batch, as it would each request.
/// </summary>
public sealed class UsageCommits : IDisposable
{
    public const int MaxBatch = 64;
    private const int Writers = 2;
    private const int Attempts = 10;

    private readonly IDocumentStore _documents;
    private readonly IStorageErrors _storage;
    private readonly Channel<Pending>[] _queues;
    private readonly Lazy<Task[]> _writers;
    private long _committedTogether;

    /// <summary>A request waiting to be taken in: its reports' ids are computed by the request itself.</summary>
    private sealed record Pending(ReportUsage Command, IReadOnlyList<(Guid Id, UsageReport Report)> Reports, DateTimeOffset Now,
        TaskCompletionSource<UsageAccepted> Done);

    /// <summary>What a request adds to the batch once it passed its checks.</summary>
    private sealed record Staged(Pending Pending, ProductInstance Instance, List<(Guid Id, UsageReport Report)> Fresh, List<string> Replayed);

    public UsageCommits(IDocumentStore documents, IStorageErrors storage)
    {
        _documents = documents;
        _storage = storage;
        _queues = Enumerable.Range(0, Writers).Select(_ => Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true })).ToArray();
        _writers = new Lazy<Task[]>(() => _queues.Select(queue => Task.Run(() => WriteAsync(queue))).ToArray());
    }

    /// <summary>Requests whose reports were committed in a transaction with other requests' so far.</summary>
    public long CommittedTogether => Interlocked.Read(ref _committedTogether);

    /// <summary>
    /// Completes when the request's new reports are committed (and, with synchronous replication, applied on the
    /// standby), or fails with the reason this request alone is refused.
    /// </summary>
    public Task<UsageAccepted> ReportAsync(ReportUsage command, DateTimeOffset now, CancellationToken cancellationToken)
    {
        _ = _writers.Value;
        var reports = command.Reports.Select(r => (UsageRecord.IdOf(command.Request.InstanceId, r.ReportId, r.Tag), r)).ToList();
        var pending = new Pending(command, reports, now, new TaskCompletionSource<UsageAccepted>(TaskCreationOptions.RunContinuationsAsynchronously));
        var queue = _queues[(command.Request.InstanceId.GetHashCode() & int.MaxValue) % Writers];
        if (!queue.Writer.TryWrite(pending))
            throw new OperationCanceledException("The node is shutting down.");
        // A request that gives up still has its reports taken in, as a report whose answer was lost would.
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteAsync(Channel<Pending> queue)
    {
        var batch = new List<Pending>(MaxBatch);
        while (await queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var pending))
                batch.Add(pending);
            if (batch.Count > 0)
                await CommitAsync(batch);
        }
    }

    private async Task CommitAsync(IReadOnlyList<Pending> batch)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                // Not the requests' cancellation: one request giving up must not undo the others.
                await using var session = _documents.LightweightSession();
                var (staged, refused) = await StageAsync(session, batch);
                if (staged.Count > 0)
                    await session.SaveChangesAsync(CancellationToken.None);
                if (staged.Count > 1)
                    Interlocked.Add(ref _committedTogether, staged.Count);
                foreach (var s in staged)
                    s.Pending.Done.TrySetResult(new UsageAccepted(s.Instance.Id, s.Fresh.Select(f => f.Report.ReportId).Distinct().ToList(), s.Replayed));
                // Only now: a report refused as received could have been received by a request of this batch that failed.
                foreach (var (pending, reason) in refused)
                    pending.Done.TrySetException(reason);
                return;
            }
            catch (Exception ex) when (batch.Count > 1 && (IsRace(ex) || _storage.IsRefusedData(ex)))
            {
                // One request's reports may be what the database refused: each is taken in alone, so only that one fails.
                foreach (var pending in batch)
                    await CommitAsync([pending]);
                return;
            }
            catch (Exception ex) when (IsRace(ex) && attempt < Attempts)
            {
                await Task.Delay(Random.Shared.Next(1, 3 * attempt));
            }
            catch (Exception ex) when (IsRace(ex))
            {
                batch[0].Done.TrySetException(new ConflictException(
                    "This product's usage is being changed by many requests at this moment: send the report again."));
                return;
            }
            catch (Exception ex)
            {
                foreach (var pending in batch)
                    pending.Done.TrySetException(ex);
                return;
            }
        }
    }

    /// <summary>Another writer committed first: the usage changed, or it created it, or it stored the same report.</summary>
    private bool IsRace(Exception error) =>
        error is JasperFx.ConcurrencyException or JasperFx.DocumentAlreadyExistsException || _storage.IsUniqueViolation(error);

    /// <summary>
    /// Reads what the batch needs in one round trip, judges each request in arrival order and queues the writes of those
    /// that pass; a refused request writes nothing, and gets its answer once the batch is committed.
    /// </summary>
    private static async Task<(List<Staged> Staged, List<(Pending, Exception)> Refused)> StageAsync(IDocumentSession session, IReadOnlyList<Pending> batch)
    {
        var instanceIds = batch.Select(p => p.Command.Request.InstanceId).Distinct().ToArray();
        var read = session.CreateBatchQuery();
        var loadInstances = read.LoadMany<ProductInstance>().ById(instanceIds);
        var loadUsages = read.LoadMany<ProductUsage>().ById(instanceIds);
        var loadKnown = read.LoadMany<UsageRecord>().ById(batch.SelectMany(p => p.Reports.Select(r => r.Id)).Distinct().ToArray());
        await read.Execute(CancellationToken.None);
        var instances = (await loadInstances).ToDictionary(i => i.Id);
        var usages = (await loadUsages).ToDictionary(u => u.Id);
        // Reports stored before, and those a request earlier in this batch takes in: a replay in the same batch counts once.
        var known = (await loadKnown).Select(u => u.Id).ToHashSet();

        var staged = new List<Staged>(batch.Count);
        var refused = new List<(Pending, Exception)>();
        var records = new List<UsageRecord>();
        var touched = new Dictionary<Guid, (ProductUsage Usage, bool Created)>();
        var contacted = new HashSet<Guid>();
        foreach (var pending in batch)
        {
            Staged judged;
            try
            {
                judged = Judge(pending, instances.GetValueOrDefault(pending.Command.Request.InstanceId), known);
            }
            catch (Exception ex)
            {
                // Judging reads nothing more: whatever it throws is this request's own fault, not the batch's.
                refused.Add((pending, ex));
                continue;
            }
            staged.Add(judged);
            var (instance, now) = (judged.Instance, pending.Now);
            foreach (var (id, report) in judged.Fresh)
            {
                known.Add(id);
                records.Add(new UsageRecord
                {
                    Id = id,
                    AccountId = instance.AccountId,
                    InstanceId = instance.Id,
                    ReportId = report.ReportId,
                    Tag = report.Tag,
                    Count = report.Count,
                    From = report.From,
                    To = report.To,
                    ReceivedAt = now,
                });
            }
            if (!touched.TryGetValue(instance.Id, out var usage))
            {
                usage = usages.TryGetValue(instance.Id, out var stored)
                    ? (stored, false)
                    // Inserted, not stored: a report creating it at the same moment makes this one merge again.
                    : (new ProductUsage { Id = instance.Id, AccountId = instance.AccountId, VirtualAccountId = instance.VirtualAccountId }, true);
                touched[instance.Id] = usage;
            }
            usage.Usage.Merge(judged.Fresh.Select(f => new LicenseUse(f.Report.Tag, f.Report.Count, f.Report.To)), now);
            if (now - instance.LastContactAt >= ProductInstance.ContactResolution && contacted.Add(instance.Id))
                ProductPatches.Contacted(session, instance.Id, now);
        }
        InsertAll(session, records);
        foreach (var (usage, created) in touched.Values)
            if (created)
                session.Insert(usage);
            else
                session.Store(usage);
        return (staged, refused);
    }

    /// <summary>
    /// The batch's new usage records in one statement instead of a call of Marten's insert function each: a batch of 64
    /// requests of 10 reports is 640 of them. Plain inserts, so a record stored at the same moment by another request
    /// breaks the primary key and the batch is taken in again request by request; the other columns keep their defaults.
    /// </summary>
    private static void InsertAll(IDocumentSession session, IReadOnlyList<UsageRecord> records)
    {
        if (records.Count == 0)
            return;
        var serializer = session.DocumentStore.Options.Serializer();
        session.QueueSqlCommand("insert into ssm.mt_doc_usagerecord (id, data) select i::uuid, d::jsonb from unnest(?::text[], ?::text[]) as r(i, d)",
            records.Select(r => r.Id.ToString()).ToArray(), records.Select(r => serializer.ToJson(r)).ToArray());
    }

    /// <summary>One request against what the batch read: its product, its clock and which of its reports are new.</summary>
    private static Staged Judge(Pending pending, ProductInstance? loaded, HashSet<Guid> known)
    {
        var command = pending.Command;
        var instance = ProductRequests.Authenticate(loaded, command.Request, command.Host, pending.Now);
        if (command.Reports.FirstOrDefault(r => r.To > pending.Now + RequestSignature.AllowedSkew) is { } future)
            throw new RegistrationException(RegistrationErrorCode.MalformedRequest,
                $"Report {future.ReportId} ends at {future.To:u}, in the future: set the product's clock (NTP).");
        var fresh = pending.Reports.Where(r => !known.Contains(r.Id)).ToList();
        var replayed = pending.Reports.Where(r => known.Contains(r.Id)).Select(r => r.Report.ReportId).Distinct().ToList();
        if (fresh.Count == 0)
            throw Replayed(replayed);
        return new Staged(pending, instance, fresh, replayed);
    }

    private static RegistrationException Replayed(IReadOnlyList<string> reportIds) => new(RegistrationErrorCode.ReportReplayed,
        $"Already received: report {string.Join(", ", reportIds.Take(10))}{(reportIds.Count > 10 ? ", …" : "")}. Nothing was stored again.");

    public void Dispose()
    {
        // The writers take in what is queued already, then end.
        foreach (var queue in _queues)
            queue.Writer.TryComplete();
    }
}
