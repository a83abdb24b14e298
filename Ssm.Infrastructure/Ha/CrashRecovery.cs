using System.Diagnostics;
using Ssm.Application.Common;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// Crash recovery of the node's own PostgreSQL, started as soon as the node process has read its configuration: a
/// node restarted after a crash replays its WAL while the web host starts, instead of inside pg_rewind after it
/// (decision 0015). PostgresNode awaits it before it touches the data folder.
/// </summary>
public sealed class CrashRecovery
{
    public static readonly CrashRecovery None = new(Task.FromResult("no crash recovery"));

    private CrashRecovery(Task<string> outcome) => Outcome = outcome;

    /// <summary>What was done, for the log. Never fails: what this could not recover, pg_rewind or a start recovers.</summary>
    public Task<string> Outcome { get; }

    public static CrashRecovery Start(NodeOptions node, HaOptions ha) => ha.ManageDatabase
        ? new CrashRecovery(Task.Run(() => RecoverAsync(PostgresNode.DataDirectoryOf(node), PostgresNode.BinOf(ha))))
        : None;

    /// <summary>
    /// Only a folder that a killed primary left (control file "in production") with no postmaster on it: a single-user
    /// server replays the WAL and shuts down cleanly, the very command pg_rewind would run first (and what a start as
    /// primary would do). A crashed standby's folder is left alone (docs/cluster.md, trap: a crashed standby cannot be rewound directly).
    /// </summary>
    private static async Task<string> RecoverAsync(string dataDirectory, string bin)
    {
        try
        {
            if (!File.Exists(Path.Combine(dataDirectory, "PG_VERSION")) || File.Exists(Path.Combine(dataDirectory, "standby.signal")))
                return "no crash recovery";
            // A postmaster killed just before this process started may be a zombie for a moment (docs/cluster.md), and postgres
            // will not start while its lock file names one; a live one is a running server, never to be touched.
            var waited = Stopwatch.GetTimestamp();
            while (PostgresNode.PostmasterPid(dataDirectory) is { } pid && PostgresNode.ProcessState(pid) is { } state)
            {
                if (state is not ('Z' or 'X'))
                    return $"no crash recovery (postmaster {pid} runs)";
                if (Stopwatch.GetElapsedTime(waited) > TimeSpan.FromSeconds(3))
                    return $"no crash recovery (postmaster {pid} not reaped)";
                await Task.Delay(20);
            }
            var control = await ProcessRunner.RunPostgresAsync(Path.Combine(bin, "pg_controldata"), ["-D", dataDirectory], null,
                CancellationToken.None, throwOnError: false);
            if (!control.Contains("in production"))
                return "no crash recovery (shut down cleanly)";
            var started = Stopwatch.GetTimestamp();
            var startedAt = ProcessUptime.Milliseconds;
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    // -F as pg_rewind runs it (its --no-sync); one syncfs() below makes the result durable.
                    await ProcessRunner.RunPostgresAsync(Path.Combine(bin, "postgres"), ["--single", "-F", "-D", dataDirectory, "template1"], null,
                        CancellationToken.None);
                    break;
                }
                // The backends of a killed postmaster may still hold its shared memory for a moment (docs/cluster.md).
                catch (InvalidOperationException ex) when (attempt < 40 && (ex.Message.Contains("shared memory") || ex.Message.Contains("lock file")))
                {
                    await Task.Delay(50);
                }
            }
            var recovered = Stopwatch.GetTimestamp();
            await ProcessRunner.RunAsync("sync", ["-f", dataDirectory], null, CancellationToken.None);
            return $"crash recovery at start-up {Stopwatch.GetElapsedTime(started, recovered).TotalMilliseconds:F0} ms + sync " +
                   $"{Stopwatch.GetElapsedTime(recovered).TotalMilliseconds:F0} ms, {startedAt:F0} to {ProcessUptime.Milliseconds:F0} ms after the process started";
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            return $"no crash recovery at start-up ({ex.Message})";
        }
    }
}
