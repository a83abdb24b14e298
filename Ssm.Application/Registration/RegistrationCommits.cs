using System.Threading.Channels;
using Ssm.Domain.Products;
using Weasel.Core;

namespace Ssm.Application.Registration;

/// <summary>
/// Commits the new product instances of concurrent registrations together: one transaction, one synchronous
/// replication round trip and one WAL flush for every registration waiting at that moment, instead of one each
/// (decision 0014), written with one COPY (decision 0047). Nobody waits for a batch to fill: a registration that finds the writers idle commits alone, and
/// those arriving during a commit go together in the next. A batch that a unique index refuses (a UDI registered
/// before, or twice in the batch) is committed again one by one, so that only the registration at fault fails.
/// </summary>
public sealed class RegistrationCommits : IDisposable
{
    public const int MaxBatch = 128;
    private const int Writers = 2;

    private readonly IDocumentStore _documents;
    private readonly IStorageErrors _storage;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Lazy<Task[]> _writers;
    private long _committedTogether;

    private sealed record Pending(ProductInstance Instance, TaskCompletionSource Committed);

    public RegistrationCommits(IDocumentStore documents, IStorageErrors storage)
    {
        _documents = documents;
        _storage = storage;
        _writers = new Lazy<Task[]>(() => Enumerable.Range(0, Writers).Select(_ => Task.Run(WriteAsync)).ToArray());
    }

    /// <summary>Registrations committed in a transaction with others so far: how much the coalescing does under load.</summary>
    public long CommittedTogether => Interlocked.Read(ref _committedTogether);

    /// <summary>Completes when the instance is committed (and, with synchronous replication, applied on the standby).</summary>
    public Task InsertAsync(ProductInstance instance, CancellationToken cancellationToken)
    {
        _ = _writers.Value;
        var pending = new Pending(instance, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
            throw new OperationCanceledException("The node is shutting down.");
        // A request that gives up still gets its instance committed, as a registration whose answer was lost would.
        return pending.Committed.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
                batch.Add(pending);
            if (batch.Count > 0)
                await CommitAsync(batch);
        }
    }

    private async Task CommitAsync(IReadOnlyList<Pending> batch)
    {
        try
        {
            // Not the requests' cancellation: one request giving up must not undo the others.
            if (batch.Count > 1)
            {
                // One COPY in one transaction, by Marten's own mapping (decision 0047): an INSERT per document made
                // PostgreSQL parse and plan each, and fire the sync outbox's statement trigger once per product, not per batch.
                var instances = new ProductInstance[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                    instances[i] = batch[i].Instance;
                await _documents.BulkInsertAsync(instances, BulkInsertMode.InsertsOnly, MaxBatch, CancellationToken.None);
                Interlocked.Add(ref _committedTogether, batch.Count);
            }
            else
            {
                await using var session = _documents.LightweightSession();
                session.Insert(batch[0].Instance);
                await session.SaveChangesAsync(CancellationToken.None);
            }
            foreach (var pending in batch)
                pending.Committed.TrySetResult();
        }
        catch (Exception ex) when (batch.Count > 1 && _storage.IsUniqueViolation(ex))
        {
            foreach (var pending in batch)
                await CommitAsync([pending]);
        }
        catch (Exception ex)
        {
            foreach (var pending in batch)
                pending.Committed.TrySetException(ex);
        }
    }

    public void Dispose()
    {
        // The writers commit what is queued already, then end.
        _queue.Writer.TryComplete();
    }
}
