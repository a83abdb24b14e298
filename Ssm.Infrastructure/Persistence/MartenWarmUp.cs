using System.Diagnostics;
using System.Reflection;
using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Persistence;

/// <summary>
/// Readies Marten for every document type once the node has started, before a request needs it: a standby that takes
/// over would otherwise build each type's storage, and compile the code that reads it, while its first clients wait
/// (issue 12: the first requests on the new active). It only reads, in a lightweight session (the storage that writes
/// use), so a standby's read-only database serves it; a database that is not running yet leaves it to the first request.
/// </summary>
public sealed class MartenWarmUp(IDocumentStore store, IOptions<NodeOptions> node, ILogger<MartenWarmUp> logger) : BackgroundService
{
    private static readonly MethodInfo Touch = typeof(MartenWarmUp).GetMethod(nameof(TouchAsync), BindingFlags.NonPublic | BindingFlags.Static)!;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        if (!node.Value.WarmUp)
            return;
        var started = Stopwatch.GetTimestamp();
        var ready = 0;
        string? firstError = null;
        await using var session = store.LightweightSession();
        foreach (var type in ((IReadOnlyStoreOptions)store.Options).AllKnownDocumentTypes())
        {
            try
            {
                await (Task)Touch.MakeGenericMethod(type.DocumentType).Invoke(null, [session, stoppingToken])!;
                ready++;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                firstError ??= (ex as TargetInvocationException)?.InnerException?.Message ?? ex.Message;
            }
        }
        logger.LogInformation("Document storage ready for {Ready} of {Total} document types in {Elapsed:F0} ms{Error}", ready,
            ((IReadOnlyStoreOptions)store.Options).AllKnownDocumentTypes().Count, Stopwatch.GetElapsedTime(started).TotalMilliseconds,
            firstError is null ? "" : $" (the others wait for their first request: {firstError})");
    }

    private static Task<IReadOnlyList<T>> TouchAsync<T>(IDocumentSession session, CancellationToken cancellationToken) where T : notnull =>
        session.Query<T>().Take(1).ToListAsync(cancellationToken);
}
