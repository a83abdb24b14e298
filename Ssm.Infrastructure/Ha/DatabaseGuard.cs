using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// A small process apart from the node that kills the node's PostgreSQL when the node, while active, gives no sign of
/// life: at once when the node's process is stopped (SIGSTOP, a tracer) or gone, after the guard time when it is only
/// silent (decisions 0040, 0042). A frozen node (SIGSTOP, a debugger, a paused cgroup) cannot fence itself,
/// and its server would stay a writable primary beside the new active; the guard kills it before the lease can run
/// out, as Patroni's watchdog resets a machine whose Patroni hangs. The node writes a line to the guard's FIFO every
/// quarter heartbeat from a thread of its own; the guard exits on "stop", and after a kill.
/// </summary>
public sealed class DatabaseGuard(string dataDirectory, string root, TimeSpan limit, TimeSpan petInterval, ILogger logger) : IDisposable
{
    // Started with setsid -f: not the node's child, so it neither freezes nor dies with the node's process tree.
    // The FIFO is opened read-write, so the guard never sees an end of file: only silence, or "stop".
    private const string Script = """
        set -u
        exec </dev/null >/dev/null 2>&1
        fifo=$1 data=$2 limit=$3 look=$4 node=$5 log=$6
        mkfifo -m 600 "$fifo" || exit 1
        exec 3<>"$fifo"
        trap 'rm -f "$fifo"' EXIT
        # A node that never comes (its start failed half-way) leaves its guard nothing to guard.
        read -r -t 10 -u 3 line || exit 0
        [ "$line" = stop ] && exit 0
        # Silence for a look is not enough by itself: the node is then looked at. Stopped by a signal or a tracer
        # (T, t) or gone is evidence at once; a merely slow node gets the whole limit.
        silent=0 why=
        while true; do
          if read -r -t "$look" -u 3 line; then
            [ "$line" = stop ] && exit 0
            silent=0
            continue
          fi
          silent=$((silent + 1))
          state=
          # A builtin read, not a program: a fork that fails under load must not pass for a node that is gone.
          if read -r stat < "/proc/$node/stat"; then state=${stat##*) }; state=${state%% *}; fi
          case "$state" in
            T|t) why="the node is stopped (state $state)"; break ;;
            ""|Z|X) why="the node is gone"; break ;;
          esac
          if [ "$silent" -ge "$limit" ]; then why="the node gave no sign of life for $silent looks of $look s"; break; fi
        done
        pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || exit 0
        case "$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" in *postgres*) ;; *) exit 0 ;; esac
        kill -STOP "$pid" 2>/dev/null
        kill -KILL "$pid" $(pgrep -P "$pid") 2>/dev/null
        echo "$(date -u +%FT%T.%3NZ) $why while active: PostgreSQL (postmaster $pid) killed" >> "$log"
        """;

    private static readonly byte[] SignOfLife = "\n"u8.ToArray();
    private static readonly byte[] StopLine = "stop\n"u8.ToArray();
    private readonly Lock _lock = new();
    /// <summary>The open FIFO of the running guard; null when none runs.</summary>
    private volatile FileStream? _pipe;

    public string LogFile => Path.Combine(root, "database-guard.log");

    private volatile bool _wanted;

    /// <summary>
    /// Guards (or stops guarding) in the background: starting a program must not lengthen a takeover (decision 0036),
    /// and stopping must not hold up a fence. The node goes on giving signs of life until the guard has read "stop".
    /// </summary>
    public void Want(bool on)
    {
        _wanted = on;
        _ = Task.Run(Apply);
    }

    private void Apply()
    {
        lock (_lock)
        {
            ReportKills();
            if (_wanted && _pipe is null)
                Start();
            else if (!_wanted && _pipe is not null)
                Stop();
        }
    }

    private void Start()
    {
        // A name of its own per guard: the FIFO existing means this guard made it and holds it open.
        var fifo = Path.Combine(root, $"database-guard-{Guid.NewGuid():N}.fifo");
        try
        {
            // Looks a little over one pet apart, so one late pet is looked at; the limit counts looks.
            var look = petInterval * 1.5;
            var looks = Math.Max(1, (int)Math.Ceiling(limit / look));
            using var starter = Process.Start(new ProcessStartInfo("setsid", ["-f", "bash", "-c", Script, "ssm-database-guard", fifo, dataDirectory,
                looks.ToString(System.Globalization.CultureInfo.InvariantCulture),
                look.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
                Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), LogFile])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            }) ?? throw new InvalidOperationException("setsid did not start");
            starter.WaitForExit(2000);
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 2;
            while (!File.Exists(fifo))
            {
                if (Stopwatch.GetTimestamp() > deadline)
                    throw new TimeoutException("the guard did not create its FIFO within 2 s");
                Thread.Sleep(2);
            }
            var pipe = new FileStream(fifo, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            _pipe = pipe;
            Write(pipe, SignOfLife);
            // One thread per guard, bound to its pipe: it ends when that guard is stopped.
            new Thread(() => Pet(pipe)) { IsBackground = true, Name = "database guard" }.Start();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception
                                       or UnauthorizedAccessException)
        {
            // A guard started but never fed leaves after 10 s without touching anything (its script).
            logger.LogWarning("The database guard could not start ({Error}): a frozen node's PostgreSQL stays a primary until it thaws", ex.Message);
        }
    }

    private void Stop()
    {
        var pipe = _pipe!;
        _pipe = null;
        Write(pipe, StopLine);
        pipe.Dispose();
    }

    private void Pet(FileStream pipe)
    {
        while (true)
        {
            Thread.Sleep(petInterval);
            lock (_lock)
            {
                if (_pipe != pipe || !Write(pipe, SignOfLife))
                    return;
            }
        }
    }

    private bool Write(FileStream pipe, byte[] line)
    {
        try
        {
            pipe.Write(line);
            return true;
        }
        catch (IOException ex)
        {
            logger.LogWarning("The database guard is gone ({Error})", ex.Message);
            return false;
        }
    }

    /// <summary>What the guard did while this node could not act, said once in the node's own log.</summary>
    private void ReportKills()
    {
        try
        {
            if (!File.Exists(LogFile))
                return;
            foreach (var line in File.ReadAllLines(LogFile))
                logger.LogWarning("Database guard: {Line}", line);
            File.Delete(LogFile);
        }
        catch (IOException)
        {
            // Read again next time.
        }
    }

    /// <summary>The node is shutting down: the guard leaves, and the server stays as the node leaves it.</summary>
    public void Dispose()
    {
        _wanted = false;
        lock (_lock)
        {
            if (_pipe is not null)
                Stop();
        }
    }
}
