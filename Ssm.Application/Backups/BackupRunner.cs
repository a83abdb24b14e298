using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;
using Ssm.Application.Notifications;
using Ssm.Domain.Backups;
using Ssm.Domain.Events;

namespace Ssm.Application.Backups;

/// <summary>
/// Takes one backup into the node's backup folder, with the schedule's passphrase, records the run and its Event Log
/// entry, and deletes the oldest files beyond the retention. One at a time per node (decision 0037).
/// </summary>
public sealed class BackupRunner(IDocumentStore store, IDatabaseBackup database, IBackupFolder folder, ISecretProtector secrets, IClock clock,
    IOptions<NodeOptions> node, ChangeNotifier notifier, ILogger<BackupRunner> logger)
{
    /// <summary>The Event Log action of a scheduled backup; a failed one notifies (NotificationRules).</summary>
    public const string ScheduledAction = "ScheduledBackup";

    private readonly SemaphoreSlim _one = new(1, 1);

    public bool IsRunning => _one.CurrentCount == 0;

    /// <summary>Runs a backup; its failure is recorded and returned as the run, not thrown. Refuses when one runs or nothing could run.</summary>
    public async Task<BackupRun> RunAsync(BackupTrigger trigger, string by, CancellationToken cancellationToken)
    {
        if (!await _one.WaitAsync(0, cancellationToken))
            throw new ConflictException("A backup is being taken already: wait for it to end.");
        try
        {
            var schedule = await LoadScheduleAsync(cancellationToken);
            if (schedule.PassphraseProtected == "")
                throw new ConflictException("Set the backup passphrase first (Backups page, schedule): without it nothing could be restored.");
            if (await database.IsStandbyAsync(cancellationToken))
                throw new ConflictException("This node's database is a standby: backups are taken on the active node.");
            var started = clock.UtcNow;
            var run = BackupRun.Start(trigger, node.Value.Name, by, BackupFileName.For(started), started);
            await using (var session = store.LightweightSession())
            {
                // This node runs one backup at a time: a run of its own still "running" was cut short by a stop or crash.
                var interrupted = await session.Query<BackupRun>().Where(r => r.Node == run.Node && r.Result == BackupResult.Running)
                    .ToListAsync(cancellationToken);
                foreach (var old in interrupted)
                {
                    old.Fail("interrupted: the node stopped while the backup ran", started);
                    session.Store(old);
                }
                if (trigger == BackupTrigger.Scheduled)
                {
                    schedule.Served(started);
                    session.Store(schedule);
                }
                session.Store(run);
                await session.SaveChangesAsync(cancellationToken);
            }
            notifier.Publish(ChangeTopic.Backups);
            await TakeAsync(run, schedule.PassphraseProtected, schedule.Retention, cancellationToken);
            return run;
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task<BackupSchedule> LoadScheduleAsync(CancellationToken cancellationToken)
    {
        await using var query = store.QuerySession();
        return await query.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId, cancellationToken) ?? new BackupSchedule();
    }

    private async Task TakeAsync(BackupRun run, string protectedPassphrase, int retention, CancellationToken cancellationToken)
    {
        var clockwatch = System.Diagnostics.Stopwatch.StartNew();
        var removed = new List<string>();
        try
        {
            // Inside the try: a key ring that cannot read the passphrase any more is a failed backup, recorded and notified.
            var (contents, size) = await folder.WriteAsync(run.FileName, secrets.Unprotect(protectedPassphrase),
                (stream, ct) => database.WriteAsync(stream, run.Node, ct), cancellationToken);
            run.Succeed(size, contents.Rows, clock.UtcNow);
            removed.AddRange(Prune(retention));
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            logger.LogWarning("Backup {File} failed: {Error}", run.FileName, ex.Message);
            run.Fail(ErrorText.Describe(ex), clock.UtcNow);
        }
        await using var session = store.LightweightSession();
        if (removed.Count > 0)
        {
            var gone = await session.Query<BackupRun>()
                .Where(r => r.Node == run.Node && r.Result == BackupResult.Succeeded && r.FileName.IsOneOf(removed)).ToListAsync(cancellationToken);
            foreach (var old in gone)
            {
                old.Remove();
                session.Store(old);
            }
        }
        session.Store(run);
        var ok = run.Result == BackupResult.Succeeded;
        var detail = ok
            ? $"on {run.Node}: {run.Rows} rows, {run.SizeBytes / 1e6:0.0} MB in {clockwatch.Elapsed.TotalSeconds:0.0} s" +
              (removed.Count > 0 ? $"; removed {string.Join(", ", removed)} (keeping {retention})" : "")
            : $"on {run.Node}: {run.Error}";
        session.Store(EventLogEntry.Record(clock.UtcNow, run.Trigger == BackupTrigger.Scheduled ? run.Node : run.StartedBy, EventCategory.Cluster,
            run.Trigger == BackupTrigger.Scheduled ? ScheduledAction : "BackUpNow", run.FileName, ok ? EventOutcome.Success : EventOutcome.Failure, detail));
        await session.SaveChangesAsync(CancellationToken.None);
        notifier.Publish(ChangeTopic.Backups);
        notifier.Publish(ChangeTopic.Events);
    }

    /// <summary>Deletes the oldest backup files of this node's folder beyond the retention; a file that will not go is left for next time.</summary>
    private List<string> Prune(int retention)
    {
        var names = folder.Names();
        var removed = new List<string>();
        foreach (var name in names.Take(Math.Max(0, names.Count - retention)))
        {
            try
            {
                folder.Delete(name);
                removed.Add(name);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning("Could not delete the old backup {File}: {Error}", name, ex.Message);
            }
        }
        return removed;
    }
}
