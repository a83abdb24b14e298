using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Ssm.Application.Common;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// The node's own PostgreSQL under DataDirectory/pg: initialise, start, stop, promote, rewind or clone
/// from the active, and switch synchronous replication. docs/cluster.md lists the traps avoided here.
/// </summary>
public sealed class PostgresNode : IDatabaseNode, IAsyncDisposable
{
    public const string ReplicationUser = "ssm_replicator";
    public const string DatabaseName = "ssm";
    private readonly HaOptions _options;
    private readonly ILogger<PostgresNode> _logger;
    private readonly string _bin;
    private readonly Lazy<NodeCertificate> _certificate;
    private (string? Host, string? Name) _peer;

    private readonly NpgsqlDataSource _application;
    private readonly CrashRecovery _recovery;

    public PostgresNode(IOptions<HaOptions> options, IOptions<NodeOptions> node, Lazy<NodeCertificate> certificate, NpgsqlDataSource application,
        CrashRecovery recovery, ILogger<PostgresNode> logger)
    {
        _application = application;
        _recovery = recovery;
        _options = options.Value;
        _logger = logger;
        Root = Path.GetFullPath(node.Value.DataDirectory);
        DataDirectory = DataDirectoryOf(node.Value);
        SocketDirectory = Path.Combine(Root, "pg-run");
        var host = _options.DatabaseHost ?? new Uri(node.Value.Listen).Host;
        Endpoint = new DatabaseEndpoint(host, _options.DatabasePort);
        _bin = BinOf(_options);
        _certificate = certificate;
        TlsDirectory = Path.Combine(Root, "pg-tls");
        ConfigDirectory = Path.Combine(Root, "pg-conf");
        // The state read uses built-in types only. Not loading the server's type catalogue makes the first read after
        // a start (the rejoin waits on it to see the standby stream) shorter.
        _state = new NpgsqlDataSourceBuilder(ConnectionString("postgres")).ConfigureTypeLoading(types => types.EnableTypeLoading(false)).Build();
    }

    private readonly NpgsqlDataSource _state;

    public ValueTask DisposeAsync()
    {
        _guard?.Dispose();
        return _state.DisposeAsync();
    }

    private DatabaseGuard? _guard;

    public void GuardWhileActive(bool on)
    {
        if (!IsManaged)
            return;
        _guard ??= new DatabaseGuard(DataDirectory, Root, _options.GuardAfter, _options.HeartbeatInterval / 4, _logger);
        _guard.Want(on);
    }

    public static string DataDirectoryOf(NodeOptions node) => Path.Combine(Path.GetFullPath(node.DataDirectory), "pg");

    public static string BinOf(HaOptions options) => options.PostgresBin ?? FindBin() ?? "/usr/lib/postgresql/15/bin";

    public bool IsManaged => _options.ManageDatabase;
    public DatabaseEndpoint Endpoint { get; }
    public string Root { get; }
    public string DataDirectory { get; }
    public string SocketDirectory { get; }
    /// <summary>The server's certificate, key and the cluster CAs, owned by the server's user (outside the data folder: never copied).</summary>
    public string TlsDirectory { get; }
    /// <summary>pg_hba.conf and pg_ident.conf of this node alone (pg_basebackup and pg_rewind would copy the data folder's).</summary>
    public string ConfigDirectory { get; }
    public bool IsInitialized => File.Exists(Path.Combine(DataDirectory, "PG_VERSION"));

    /// <summary>The node itself connects over the Unix socket (peer authentication, in a folder only the service user reads).</summary>
    public string ConnectionString(string database = DatabaseName) => Local(SocketDirectory, Endpoint.Port, database);

    public static string LocalConnectionString(NodeOptions node, HaOptions ha) =>
        Local(Path.Combine(Path.GetFullPath(node.DataDirectory), "pg-run"), ha.DatabasePort, DatabaseName);

    private static string Local(string socketDirectory, int port, string database) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = socketDirectory, Port = port, Username = "postgres", Database = database,
            Timeout = 3, CommandTimeout = 30, Pooling = true,
            // Two pools (the documents, and the node's own state reads) must stay below max_connections with room
            // for replication, the peer and an operator's psql.
            MaxPoolSize = 60,
        }.ConnectionString;

    /// <summary>
    /// The node's own connection to the peer's server (rewind preparation, warm-up): the replication role, logged in
    /// by this node's cluster certificate, the server verified against the cluster CA and its address (verify-full).
    /// </summary>
    private string PeerConnection(DatabaseEndpoint source, string database = "postgres")
    {
        var certificate = _certificate.Value;
        return new NpgsqlConnectionStringBuilder
        {
            Host = source.Host, Port = source.Port, Username = ReplicationUser, Database = database, Timeout = 3, Pooling = false,
            SslMode = SslMode.VerifyFull, RootCertificate = certificate.Credentials.AuthoritiesPath,
            SslCertificate = certificate.CertificatePath, SslKey = certificate.KeyPath,
        }.ConnectionString;
    }

    /// <summary>The same for libpq programs and the walreceiver, which run as the server's user and read the files of pg-tls.</summary>
    private string Libpq(DatabaseEndpoint source, string? applicationName = null) =>
        $"host={source.Host} port={source.Port} user={ReplicationUser} dbname=postgres connect_timeout=2 sslmode=verify-full " +
        $"sslrootcert={Path.Combine(TlsDirectory, "ca.crt")} sslcert={Path.Combine(TlsDirectory, "server.crt")} sslkey={Path.Combine(TlsDirectory, "server.key")}" +
        (applicationName is null ? "" : $" application_name={applicationName}");

    public static string? FindBin()
    {
        if (!Directory.Exists("/usr/lib/postgresql"))
            return null;
        return Directory.GetDirectories("/usr/lib/postgresql").OrderDescending()
            .Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private string Tool(string name) => Path.Combine(_bin, name);

    private async Task PrepareDirectoriesAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(SocketDirectory);
        Directory.CreateDirectory(TlsDirectory);
        Directory.CreateDirectory(ConfigDirectory);
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (!OperatingSystem.IsWindows())
        {
            // The node's folder is the service user's alone; as root, PostgreSQL (user postgres) may only pass through it.
            File.SetUnixFileMode(Root, ProcessRunner.IsRoot ? owner | UnixFileMode.GroupExecute : owner);
            foreach (var folder in new[] { SocketDirectory, TlsDirectory, ConfigDirectory })
                File.SetUnixFileMode(folder, owner);
        }
        // Written only when changed, and given to the server's user without starting a program: this runs at every
        // start of the server, on the rejoin's critical path.
        var certificate = _certificate.Value;
        PostgresOwner.Give(Root, groupOnly: true);
        foreach (var folder in new[] { SocketDirectory, TlsDirectory, ConfigDirectory })
            PostgresOwner.Give(folder);
        PostgresOwner.WriteIfChanged(Path.Combine(TlsDirectory, "server.crt"), await File.ReadAllBytesAsync(certificate.CertificatePath, cancellationToken));
        PostgresOwner.WriteIfChanged(Path.Combine(TlsDirectory, "server.key"), await File.ReadAllBytesAsync(certificate.KeyPath, cancellationToken));
        PostgresOwner.WriteIfChanged(Path.Combine(TlsDirectory, "ca.crt"), await File.ReadAllBytesAsync(certificate.Credentials.AuthoritiesPath, cancellationToken));
        WriteAccessRules();
        if (ProcessRunner.IsRoot && Directory.Exists(DataDirectory))
        {
            // A server starting meanwhile (the start-up crash recovery) removes files as it goes, such as
            // pg_internal.init: a file gone between listing and chown is not a failure (bench/chaos.sh: a node that
            // restarted after a crash failed to start on this).
            var output = await ProcessRunner.RunAsync("chown", ["-R", "postgres", DataDirectory], null, cancellationToken, throwOnError: false);
            var failures = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(line => !line.EndsWith("No such file or directory", StringComparison.Ordinal)).ToList();
            if (failures.Count > 0)
                throw new InvalidOperationException($"chown of {DataDirectory} failed: {string.Join("; ", failures)}");
        }
    }

    /// <summary>
    /// pg_hba.conf and pg_ident.conf: the node over its Unix socket (peer authentication, as postgres); the peer node's
    /// address, and nobody else, over TLS with its cluster certificate, as the replication role, to the replication
    /// protocol and the postgres database (pg_rewind) only. No trust, no password, no other address.
    /// </summary>
    private void WriteAccessRules()
    {
        var hba = new StringBuilder("""
            # Written by ssm (decision 0018); rewritten when the peer changes. The node itself: local socket, peer authentication.
            local    all          postgres                          peer map=local

            """);
        var ident = new StringBuilder("# Written by ssm (decision 0018).\n");
        foreach (var user in new[] { "postgres", "root", Environment.UserName }.Distinct())
            ident.AppendLine($"local    {user}    postgres");
        if (_peer is { Host: { } host, Name: { } name })
        {
            // On one machine the peer's connections come from 127.0.0.1 whatever its address (the kernel's choice of
            // source for a local destination): that address is this host, and the certificate is what admits the peer.
            var sources = IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip) ? new[] { host, "127.0.0.1" }.Distinct() : [host];
            foreach (var source in sources)
            {
                var mask = source.Contains(':') ? "/128" : "/32";
                hba.AppendLine($"hostssl  replication  {ReplicationUser}  {source}{mask}  cert map=peer");
                hba.AppendLine($"hostssl  postgres     {ReplicationUser}  {source}{mask}  cert map=peer");
            }
            ident.AppendLine($"peer     \"{name.Replace("\"", "")}\"    {ReplicationUser}");
        }
        PostgresOwner.WriteIfChanged(Path.Combine(ConfigDirectory, "pg_hba.conf"), Encoding.UTF8.GetBytes(hba.ToString()));
        PostgresOwner.WriteIfChanged(Path.Combine(ConfigDirectory, "pg_ident.conf"), Encoding.UTF8.GetBytes(ident.ToString()));
    }

    public async Task AllowPeerAsync(string? peerHost, string? peerName, CancellationToken cancellationToken)
    {
        _peer = (peerHost, peerName);
        if (!IsManaged)
            return;
        await PrepareDirectoriesAsync(cancellationToken);
        if (!IsInitialized || ReadPostmasterStatus() is not ("ready" or "standby"))
            return;
        // A reload applies the new rules to new connections (and ends the walsenders of a removed peer only at their next login).
        await ExecuteAsync("postgres", "select pg_reload_conf()", cancellationToken);
    }

    /// <summary>After a rotation: the server's certificate and trusted CAs are copied again and the server reloads them.</summary>
    public Task ReloadTlsAsync(CancellationToken cancellationToken) => AllowPeerAsync(_peer.Host, _peer.Name, cancellationToken);

    private string? ReadPostmasterStatus()
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(DataDirectory, "postmaster.pid"));
            return lines.Length >= 8 && int.TryParse(lines[0], out var pid) && IsAlive(pid) ? lines[7].Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _recovery.Outcome.WaitAsync(cancellationToken);
        if (IsInitialized)
            return;
        await PrepareDirectoriesAsync(cancellationToken);
        Directory.CreateDirectory(DataDirectory);
        if (ProcessRunner.IsRoot)
            await ProcessRunner.RunAsync("chown", ["postgres", DataDirectory], null, cancellationToken);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await ProcessRunner.RunPostgresAsync(Tool("initdb"),
            ["-D", DataDirectory, "-U", "postgres", "--auth-local=peer", "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--wal-segsize=1"], null, cancellationToken);
        await AppendAsync(Path.Combine(DataDirectory, "postgresql.conf"), """

            # Written by ssm: streaming replication with rewind support (pg_rewind needs wal_log_hints).
            wal_level = replica
            wal_log_hints = on
            max_connections = 200
            max_wal_senders = 10
            max_replication_slots = 10
            # The active keeps the WAL its standby still needs in a replication slot (decisions/0006), not by
            # wal_keep_size: pg_rewind (PostgreSQL 15) copies every file of the source's pg_wal whole, so a
            # small pg_wal is a fast rejoin. A standby that stays away for more than 2 GB of changes is cloned.
            # Segments of 1 MB (initdb --wal-segsize=1) keep that copy small too.
            wal_keep_size = 0
            min_wal_size = 2MB
            # Old segments are removed, not renamed into future ones: pg_rewind copied those too, 10-62 files of
            # stale WAL per rejoin after a crash (3-4 files now). A new segment is written once more (1 MB).
            wal_recycle = off
            max_slot_wal_keep_size = 2GB
            hot_standby = on
            hot_standby_feedback = on
            synchronous_commit = remote_apply
            wal_receiver_status_interval = 1s
            wal_sender_timeout = 5s
            wal_receiver_timeout = 5s
            # A standby waiting for WAL rechecks (and notices a promote request) this often; the default is 5 s.
            wal_retrieve_retry_interval = 50ms
            # After a crash (and after pg_rewind) start-up syncs the data folder before recovery: one syncfs()
            # per file system instead of an fsync() per file takes it from ~0.45 s to a few ms here.
            recovery_init_sync_method = syncfs
            """);
        // The rules in use live in pg-conf (hba_file on the command line); this copy only says so.
        await File.WriteAllTextAsync(Path.Combine(DataDirectory, "pg_hba.conf"), "# Not used: ssm starts the server with hba_file in pg-conf.\n", cancellationToken);
        await StartAsync(cancellationToken);
        await ExecuteAsync("postgres", $"create database {DatabaseName}", cancellationToken);
        await EnsureReplicationUserAsync(cancellationToken);
        _logger.LogInformation("Initialised PostgreSQL in {Directory}", DataDirectory);
    }

    private static async Task AppendAsync(string path, string text)
    {
        await File.AppendAllTextAsync(path, text + Environment.NewLine);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _recovery.Outcome.WaitAsync(cancellationToken);
        await PrepareDirectoriesAsync(cancellationToken);
        if (await IsRunningAsync())
            return;
        // Node-specific settings go on the command line: pg_basebackup and pg_rewind copy the files (docs/cluster.md).
        // TLS with the node's cluster certificate, and access rules of this node's own (decision 0018).
        var options = $"-p {Endpoint.Port} -k '{SocketDirectory}' -c listen_addresses={Endpoint.Host} -c cluster_name=ssm -c unix_socket_permissions=0700 " +
                      $"-c ssl=on -c ssl_cert_file='{Path.Combine(TlsDirectory, "server.crt")}' -c ssl_key_file='{Path.Combine(TlsDirectory, "server.key")}' " +
                      $"-c ssl_ca_file='{Path.Combine(TlsDirectory, "ca.crt")}' -c ssl_min_protocol_version=TLSv1.3 " +
                      $"-c hba_file='{Path.Combine(ConfigDirectory, "pg_hba.conf")}' -c ident_file='{Path.Combine(ConfigDirectory, "pg_ident.conf")}'";
        // pg_ctl -w looks every 100 ms whether the server is up; the node looks every 10 ms (rejoin time).
        var logStart = File.Exists(LogFile) ? new FileInfo(LogFile).Length : 0;
        await ProcessRunner.RunPostgresAsync(Tool("pg_ctl"),
            ["-D", DataDirectory, "-l", LogFile, "-W", "-o", options, "start"], null, cancellationToken);
        await WaitReadyAsync(TimeSpan.FromSeconds(60), logStart, cancellationToken);
        ForgetConnections();
    }

    private string LogFile => Path.Combine(SocketDirectory, "postgresql.log");

    /// <summary>
    /// Until the postmaster reports itself ready (or ready as a standby) in the status line of postmaster.pid,
    /// as pg_ctl does; a postmaster that exits meanwhile is an error with the end of its log. So is a standby whose
    /// source no longer has the WAL it needs: it would wait forever (seen after a rewind, when the source had recycled
    /// the segment of the target's last checkpoint: 60 s lost before the fallback to a fresh copy).
    /// </summary>
    private async Task WaitReadyAsync(TimeSpan timeout, long logStart, CancellationToken cancellationToken)
    {
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        var started = Stopwatch.GetTimestamp();
        var nextLogLook = TimeSpan.FromMilliseconds(500);
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            if (Stopwatch.GetElapsedTime(started) > nextLogLook)
            {
                nextLogLook += TimeSpan.FromMilliseconds(500);
                if (LogSince(logStart).Contains("has already been removed", StringComparison.Ordinal))
                    throw new InvalidOperationException($"PostgreSQL in {DataDirectory} waits for WAL its source has removed: {LogTail()}");
            }
            string[] lines;
            try
            {
                lines = File.Exists(pidFile) ? await File.ReadAllLinesAsync(pidFile, cancellationToken) : [];
            }
            catch (IOException)
            {
                lines = [];
            }
            if (lines.Length >= 8 && lines[7].Trim() is "ready" or "standby")
                return;
            var alive = lines.Length > 0 && int.TryParse(lines[0], out var pid) && IsAlive(pid);
            if (!alive && Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(2))
                throw new InvalidOperationException($"PostgreSQL in {DataDirectory} did not start: {LogTail()}");
            await Task.Delay(10, cancellationToken);
        }
        throw new TimeoutException($"PostgreSQL in {DataDirectory} not ready within {timeout.TotalSeconds:0} s: {LogTail()}");
    }

    /// <summary>A killed postmaster stays a zombie until its parent reaps it (docs/cluster.md): that is not alive.</summary>
    private static bool IsAlive(int pid) => ProcessState(pid) is { } state && state is not ('Z' or 'X');

    /// <summary>
    /// The postmaster is stopped by a signal (state T) or by a tracer (t), or it is gone (killed: no process, or a zombie)
    /// though its pid file says it runs. Read only when the database is silent (ClusterSupervisor's watchdog): such a
    /// server answers nobody until someone continues or restarts it (decisions 0038 and 0042).
    /// </summary>
    public bool IsStoppedOrGone => PostmasterPid(DataDirectory) is { } pid && (ProcessState(pid) is 'T' or 't' || !IsAlive(pid));

    /// <summary>The state letter of /proc/PID/stat (R, S, D, Z...), or null when there is no such process.</summary>
    public static char? ProcessState(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var end = stat.LastIndexOf(')');
            return end > 0 && end + 2 < stat.Length ? stat[end + 2] : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>What the server logged after the given length of its log file (at most the last 64 KiB of it).</summary>
    private string LogSince(long start)
    {
        try
        {
            using var log = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            log.Position = Math.Max(start, log.Length - 65536);
            using var reader = new StreamReader(log);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    private string LogTail()
    {
        try
        {
            return string.Join(" | ", File.ReadLines(LogFile).TakeLast(5));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    /// <summary>Pooled connections to a server that restarted are dead; drop them rather than fail the next command.</summary>
    private void ForgetConnections()
    {
        _application.Clear();
        _state.Clear();
        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>
    /// Opens (and closes) a connection to the peer's database in the background: the first one of a new
    /// process pays for loading TLS and SCRAM code, which a rejoin after a crash should not wait for.
    /// </summary>
    public void WarmUp(DatabaseEndpoint peer) => _ = Task.Run(async () =>
    {
        try
        {
            await using var connection = new NpgsqlConnection(PeerConnection(peer));
            await connection.OpenAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            _logger.LogDebug("Warm-up connection to {Host}:{Port} failed: {Error}", peer.Host, peer.Port, ex.Message);
        }
    });

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // The start-up crash recovery's single-user server holds postmaster.pid too: it is not a server to stop.
        await _recovery.Outcome.WaitAsync(cancellationToken);
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile))
            return;
        // Left by a killed postmaster (a crash): nothing runs to stop, and no program needs starting for that.
        if (int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid) && !IsAlive(pid))
            return;
        if (!await FastShutdownAsync(pidFile, cancellationToken))
            await ProcessRunner.RunPostgresAsync(Tool("pg_ctl"), ["-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"], null, cancellationToken,
                throwOnError: false);
        ForgetConnections();
    }

    private const int SigInt = 2;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>
    /// A fast shutdown as pg_ctl makes it (SIGINT to the postmaster), then the wait for the postmaster to exit, polled
    /// every 5 ms. pg_ctl is a program to start and polls every 100 ms, both inside a planned handover's gap. False when
    /// the pid file names no postgres that took the signal: then pg_ctl does it.
    /// </summary>
    private async Task<bool> FastShutdownAsync(string pidFile, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux() || !int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
            return false;
        var commandLine = Path.Combine("/proc", pid.ToString(), "cmdline");
        if (!File.Exists(commandLine) || !(await File.ReadAllTextAsync(commandLine, cancellationToken)).Contains("postgres") || SendSignal(pid, SigInt) != 0)
            return false;
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
        while (IsAlive(pid))
        {
            if (Stopwatch.GetTimestamp() > deadline)
                throw new TimeoutException($"PostgreSQL in {DataDirectory} did not shut down within 60 s of the fast shutdown request");
            await Task.Delay(5, cancellationToken);
        }
        return true;
    }

    /// <summary>
    /// SIGKILL of the postmaster, in-process: no program to start on a loaded machine, and it works on a
    /// frozen (stopped) server too. Its backends see the postmaster die and exit (docs/cluster.md, trap: a killed postmaster may still look alive).
    /// </summary>
    public async Task KillAsync(CancellationToken cancellationToken)
    {
        await _recovery.Outcome.WaitAsync(cancellationToken);
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile) || !int.TryParse((await File.ReadAllLinesAsync(pidFile, cancellationToken)).FirstOrDefault(), out var pid))
            return;
        // A stale pid file may name a process that is not ours any more (pid reuse): kill only a postgres.
        var commandLine = Path.Combine("/proc", pid.ToString(), "cmdline");
        if (!File.Exists(commandLine) || !(await File.ReadAllTextAsync(commandLine, cancellationToken)).Contains("postgres"))
        {
            ForgetConnections();
            return;
        }
        // Its backends too: a backend exits when it finds its postmaster gone, but a stopped one (SIGSTOP, a frozen
        // server) never looks, and holds the shared memory that keeps a new server from starting (found by bench/chaos.sh:
        // a node fenced for a frozen database could not start it again, and the cluster had no active).
        var backends = ChildrenOf(pid);
        try
        {
            using var postmaster = Process.GetProcessById(pid);
            postmaster.Kill();
            foreach (var backend in backends)
                KillIfPostgres(backend);
            // Not Process.WaitForExitAsync: pg_ctl daemonized the postmaster, so it is not this process's child, and
            // a killed one stays a zombie until whoever adopted it reaps it; the fence, and with it the lease handed
            // back, waited for that (0.04 to 2.1 s in bench/chaos.sh). A zombie cannot commit anything.
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 5;
            while (IsAlive(pid) || backends.Any(IsAlive))
            {
                if (Stopwatch.GetTimestamp() > deadline)
                    throw new TimeoutException("still alive 5 s after SIGKILL");
                await Task.Delay(2, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or TimeoutException)
        {
            _logger.LogWarning("Postmaster {Pid} not killed cleanly: {Error}", pid, ex.Message);
        }
        ForgetConnections();
    }

    /// <summary>The processes whose parent is PID, from /proc (the fourth field of /proc/N/stat).</summary>
    public static IReadOnlyList<int> ChildrenOf(int pid)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var candidate))
                continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields.Length > 1 && int.TryParse(fields[1], out var parent) && parent == pid)
                    children.Add(candidate);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
            {
                // Gone meanwhile.
            }
        }
        return children;
    }

    private static void KillIfPostgres(int pid)
    {
        try
        {
            if (!File.ReadAllText($"/proc/{pid}/cmdline").Contains("postgres"))
                return;
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or InvalidOperationException or UnauthorizedAccessException)
        {
            // Exited already.
        }
    }

    private async Task<bool> IsRunningAsync()
    {
        if (!File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            return false;
        var output = await ProcessRunner.RunPostgresAsync(Tool("pg_ctl"), ["-D", DataDirectory, "status"], null, CancellationToken.None, throwOnError: false);
        return output.Contains("server is running");
    }

    public async Task<DatabaseState> ReadStateAsync(CancellationToken cancellationToken)
    {
        try
        {
            // One round trip: the active reads this every heartbeat, also when it is busiest, and a slow answer
            // counts against it (ClusterSupervisor's database watchdog).
            await using var connection = await _state.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand("""
                select pg_is_in_recovery(), current_setting('synchronous_standby_names'),
                       case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end,
                       case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end,
                       (select coalesce(json_agg(json_build_array(application_name, state, sync_state,
                                 coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
                                 coalesce(extract(epoch from replay_lag), 0)::float8)), '[]')::text
                        from pg_stat_replication where not pg_is_in_recovery()),
                       coalesce((select received_tli from pg_stat_wal_receiver), 0),
                       (select status from pg_stat_wal_receiver),
                       pg_last_wal_replay_lsn()::text
                """, connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var inRecovery = reader.GetBoolean(0);
            var syncNames = reader.IsDBNull(1) ? null : reader.GetString(1);
            // On a standby the timeline is the one being received (docs/cluster.md, trap: the current timeline).
            if (inRecovery)
                return new DatabaseState(true, true, Convert.ToInt64(reader.GetValue(5)), reader.IsDBNull(7) ? null : reader.GetString(7),
                    reader.IsDBNull(6) ? "stopped" : reader.GetString(6), syncNames, []);
            var lsn = reader.GetString(2);
            var walFile = reader.GetString(3);
            var standbys = new List<StandbyInfo>();
            using (var json = System.Text.Json.JsonDocument.Parse(reader.GetString(4)))
                foreach (var row in json.RootElement.EnumerateArray())
                    standbys.Add(new StandbyInfo(row[0].GetString() ?? "", row[1].GetString() ?? "", row[2].GetString() ?? "", row[3].GetInt64(),
                        row[4].GetDouble()));
            return new DatabaseState(true, false, Convert.ToInt64(walFile[..8], 16), lsn, null, syncNames, standbys);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return DatabaseState.Down;
        }
    }

    private static async Task<object?> Scalar(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    private async Task ExecuteAsync(string database, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<TimeSpan> PromoteAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken);
        // Promoted already (a retry after an interrupted handover): nothing to do.
        if (!(bool)(await Scalar(connection, "select pg_is_in_recovery()", cancellationToken))!)
            return Stopwatch.GetElapsedTime(started);
        // A promoted node that still names a sync standby hangs every commit (docs/cluster.md, trap: synchronous commits hang).
        await using (var clear = new NpgsqlCommand("alter system set synchronous_standby_names = ''", connection))
            await clear.ExecuteNonQueryAsync(cancellationToken);
        await using (var reload = new NpgsqlCommand("select pg_reload_conf()", connection))
            await reload.ExecuteNonQueryAsync(cancellationToken);
        // pg_promote(wait => true) polls every 100 ms (docs/cluster.md, trap: polling floors); poll ourselves every 2 ms instead.
        await using (var promote = new NpgsqlCommand("select pg_promote(false)", connection))
            await promote.ExecuteNonQueryAsync(cancellationToken);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (!(bool)(await Scalar(connection, "select pg_is_in_recovery()", cancellationToken))!)
            {
                var promoted = Stopwatch.GetElapsedTime(started);
                // A slot left from an earlier time as active pins old WAL, which pg_rewind would then copy.
                await DropIdleSlotsAsync(cancellationToken);
                // The old active's rewind needs the new timeline in this server's control file (docs/cluster.md, trap: checkpoint before rewind): take
                // the checkpoint now, off the write path, rather than when that node comes back.
                _ = Task.Run(CheckpointInBackgroundAsync, CancellationToken.None);
                return promoted;
            }
            await Task.Delay(2, cancellationToken);
        }
        throw new TimeoutException("PostgreSQL did not leave recovery within 30 s of pg_promote");
    }

    public Task CheckpointAsync(CancellationToken cancellationToken) => ExecuteAsync("postgres", "checkpoint", cancellationToken);

    private async Task CheckpointInBackgroundAsync()
    {
        try
        {
            await ExecuteAsync("postgres", "checkpoint", CancellationToken.None);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            _logger.LogInformation("Checkpoint after promotion not taken ({Error}); a rejoining node asks for one", ex.Message);
        }
    }

    /// <summary>The replication slot through which the active keeps the WAL the named standby still needs.</summary>
    public static string SlotName(string standbyName) =>
        "ssm_" + new string(standbyName.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());

    public async Task EnsureStandbySlotAsync(string standbyName, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken);
        await using var create = new NpgsqlCommand("""
            select pg_create_physical_replication_slot($1, true)
            where not exists (select 1 from pg_replication_slots where slot_name = $1)
            """, connection);
        create.Parameters.AddWithValue(SlotName(standbyName));
        await create.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task DropIdleSlotsAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken);
        await using var drop = new NpgsqlCommand(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots where not active and slot_name like 'ssm\\_%'", connection);
        await drop.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> SetSynchronousStandbyAsync(string? standbyName, CancellationToken cancellationToken)
    {
        var value = standbyName is null ? "" : $"\"{standbyName}\"";
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken);
        await using (var set = new NpgsqlCommand($"alter system set synchronous_standby_names = '{value.Replace("'", "''")}'", connection))
            await set.ExecuteNonQueryAsync(cancellationToken);
        await using (var reload = new NpgsqlCommand("select pg_reload_conf()", connection))
            await reload.ExecuteNonQueryAsync(cancellationToken);
        if (standbyName is null)
            return true;
        // The reload reaches the server's processes a moment later, and commits acknowledged before that did not wait
        // for the standby: confirmed once the server counts it as synchronous and it has replayed all WAL written up to
        // then (every earlier commit), or not within a second (it stopped streaming).
        var started = Stopwatch.GetTimestamp();
        await using var check = new NpgsqlCommand(
            "select exists (select 1 from pg_stat_replication where application_name = $1 and sync_state = 'sync')", connection);
        check.Parameters.AddWithValue(standbyName);
        while (await check.ExecuteScalarAsync(cancellationToken) is not true)
        {
            if (Stopwatch.GetElapsedTime(started) >= TimeSpan.FromSeconds(1))
                return false;
            await Task.Delay(2, cancellationToken);
        }
        await using var caughtUp = new NpgsqlCommand("""
            select exists (select 1 from pg_stat_replication
                           where application_name = $1 and sync_state = 'sync' and replay_lsn >= $2::pg_lsn)
            """, connection);
        var written = (string)(await Scalar(connection, "select pg_current_wal_lsn()::text", cancellationToken))!;
        caughtUp.Parameters.AddWithValue(standbyName);
        caughtUp.Parameters.AddWithValue(written);
        while (await caughtUp.ExecuteScalarAsync(cancellationToken) is not true)
        {
            if (Stopwatch.GetElapsedTime(started) >= TimeSpan.FromSeconds(1))
                return false;
            await Task.Delay(2, cancellationToken);
        }
        return true;
    }

    public async Task EnsureReplicationUserAsync(CancellationToken cancellationToken)
    {
        // Not a superuser: streaming needs REPLICATION; pg_rewind needs these four file functions; the rejoin asks the
        // source for a checkpoint (pg_checkpoint), its timeline and the size of its WAL. It logs in by certificate only.
        await ExecuteAsync("postgres", $"""
            do $$ begin
              if not exists (select 1 from pg_roles where rolname = '{ReplicationUser}') then
                create role {ReplicationUser} with login replication nosuperuser nocreatedb nocreaterole;
              else
                alter role {ReplicationUser} with login replication nosuperuser nocreatedb nocreaterole password null;
              end if;
            end $$;
            grant execute on function pg_catalog.pg_ls_dir(text, boolean, boolean) to {ReplicationUser};
            grant execute on function pg_catalog.pg_stat_file(text, boolean) to {ReplicationUser};
            grant execute on function pg_catalog.pg_read_binary_file(text) to {ReplicationUser};
            grant execute on function pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) to {ReplicationUser};
            grant execute on function pg_catalog.pg_ls_waldir() to {ReplicationUser};
            grant execute on function pg_catalog.pg_control_checkpoint() to {ReplicationUser};
            grant pg_checkpoint to {ReplicationUser};
            """, cancellationToken);
    }

    public async Task<string?> LastCheckpointLsnAsync(CancellationToken cancellationToken)
    {
        // From the control file itself: pg_controldata is a program to start (120–160 ms on two loaded cores), and a
        // planned handover waits for this between stopping the server and asking the standby to promote.
        var controlFile = Path.Combine(DataDirectory, "global", "pg_control");
        if (File.Exists(controlFile) && CheckpointLocation(await File.ReadAllBytesAsync(controlFile, cancellationToken)) is { } lsn)
            return lsn;
        var output = await ProcessRunner.RunPostgresAsync(Tool("pg_controldata"), ["-D", DataDirectory], null, cancellationToken);
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("Latest checkpoint location:"));
        return line?.Split(':', 2)[1].Trim();
    }

    /// <summary>
    /// The latest checkpoint's location in a control file, as pg_controldata prints it; null for a layout this does not
    /// know. ControlFileData of pg_control_version 1300 (PostgreSQL 13 to 16), in the machine's byte order: the system
    /// identifier (8 bytes), pg_control_version (4), catalog_version_no (4), state (4, padded to 8), time (8), then the
    /// checkpoint's LSN at byte 32.
    /// </summary>
    public static string? CheckpointLocation(ReadOnlySpan<byte> control)
    {
        if (!BitConverter.IsLittleEndian || control.Length < 40 || BinaryPrimitives.ReadUInt32LittleEndian(control[8..]) != 1300)
            return null;
        var lsn = BinaryPrimitives.ReadUInt64LittleEndian(control[32..]);
        return $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}";
    }

    public async Task<bool> WaitReplayedAsync(string lsn, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken);
        var deadline = DateTime.UtcNow + timeout;
        do
        {
            await using var command = new NpgsqlCommand("select pg_last_wal_replay_lsn() >= @lsn::pg_lsn", connection);
            command.Parameters.AddWithValue("lsn", lsn);
            if (await command.ExecuteScalarAsync(cancellationToken) is true)
                return true;
            await Task.Delay(2, cancellationToken);
        } while (DateTime.UtcNow < deadline);
        return false;
    }

    public async Task RejoinAsync(DatabaseEndpoint source, string applicationName, CancellationToken cancellationToken)
    {
        await StopAsync(cancellationToken);
        if (!IsInitialized)
        {
            await CloneAsync(source, applicationName, cancellationToken);
            return;
        }
        // A standby that crashed cannot be rewound directly (docs/cluster.md): bring it up once and stop it cleanly.
        if (File.Exists(Path.Combine(DataDirectory, "standby.signal")) && !await WasShutDownCleanlyAsync(cancellationToken))
        {
            await StartAsync(cancellationToken);
            await StopAsync(cancellationToken);
        }
        var recovery = await _recovery.Outcome.WaitAsync(cancellationToken);
        try
        {
            var started = Stopwatch.GetTimestamp();
            var checkpointTaken = false;
            string sourceWal;
            // Right after a promotion the source's control file names the old timeline until a checkpoint
            // (docs/cluster.md, trap: checkpoint before rewind). The promotion's own checkpoint is usually done by the time a node rejoins.
            await using (var connection = new NpgsqlConnection(PeerConnection(source)))
            {
                await connection.OpenAsync(cancellationToken);
                var current = (bool)(await Scalar(connection, """
                    select (select timeline_id from pg_control_checkpoint())
                         = ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
                    """, cancellationToken))!;
                if (!current)
                {
                    checkpointTaken = true;
                    await using var checkpoint = new NpgsqlCommand("checkpoint", connection);
                    await checkpoint.ExecuteNonQueryAsync(cancellationToken);
                }
                // pg_rewind copies every file of the source's pg_wal whole (decision 0006): say how much that is.
                sourceWal = (string)(await Scalar(connection,
                    "select count(*) || ' files, ' || coalesce(sum(size), 0) / 1024 || ' kB' from pg_ls_waldir()", cancellationToken))!;
            }
            var checkpointed = Stopwatch.GetTimestamp();
            var output = await ProcessRunner.RunPostgresAsync(Tool("pg_rewind"),
                // Without JIT: pg_rewind lists the source's files with a recursive query whose estimated cost has the
                // source compile it with LLVM first, 0.3 s idle and 0.7 s under load, for a query that runs in 10 ms.
                ["-D", DataDirectory, "--source-server", Libpq(source) + " options='-c jit=off'", "--no-sync", "--progress"], null, cancellationToken);
            var rewound = Stopwatch.GetTimestamp();
            await WriteStandbyConfigAsync(source, applicationName, cancellationToken);
            var configured = Stopwatch.GetTimestamp();
            await StartAsync(cancellationToken);
            var ready = Stopwatch.GetTimestamp();
            if (!await WaitStreamingAsync(TimeSpan.FromSeconds(15), cancellationToken))
                throw new InvalidOperationException("the rewound standby did not start streaming");
            var copied = System.Text.RegularExpressions.Regex.Matches(output, @"(\d+)/\d+ kB \(100%\) copied").LastOrDefault()?.Groups[1].Value ?? "0";
            _logger.LogInformation("Rejoined by {Output} ({Recovery}, source ready {Checkpoint:F0} ms{Taken}, pg_rewind {Rewind:F0} ms copying {Copied} kB " +
                "with source pg_wal {SourceWal}, start to streaming {Start:F0} ms: configured {Configured:F0}, ready {Ready:F0}, streaming {Streaming:F0}; " +
                "streaming {Uptime:F0} ms after the process started)",
                output.Trim().Split('\n').LastOrDefault(), recovery, Stopwatch.GetElapsedTime(started, checkpointed).TotalMilliseconds,
                checkpointTaken ? " with a checkpoint" : "",
                Stopwatch.GetElapsedTime(checkpointed, rewound).TotalMilliseconds, copied, sourceWal, Stopwatch.GetElapsedTime(rewound).TotalMilliseconds,
                Stopwatch.GetElapsedTime(rewound, configured).TotalMilliseconds, Stopwatch.GetElapsedTime(configured, ready).TotalMilliseconds,
                Stopwatch.GetElapsedTime(ready).TotalMilliseconds, ProcessUptime.Milliseconds);
        }
        // A rewound server that never becomes ready (it waits for WAL the source no longer has) is cloned too,
        // rather than rewound again and again.
        catch (Exception ex) when (ex is InvalidOperationException or NpgsqlException or TimeoutException)
        {
            _logger.LogWarning("Rewind failed ({Error}); taking a fresh base backup instead", ex.Message);
            await StopAsync(cancellationToken);
            await CloneAsync(source, applicationName, cancellationToken);
        }
    }

    /// <summary>The process postmaster.pid names (a postmaster, or a single-user server), if the file is there.</summary>
    public static int? PostmasterPid(string dataDirectory)
    {
        try
        {
            var pidFile = Path.Combine(dataDirectory, "postmaster.pid");
            return File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private async Task<bool> WasShutDownCleanlyAsync(CancellationToken cancellationToken)
    {
        var output = await ProcessRunner.RunPostgresAsync(Tool("pg_controldata"), ["-D", DataDirectory], null, cancellationToken, throwOnError: false);
        return output.Contains("shut down in recovery") || output.Contains("state:               shut down");
    }

    public async Task CloneAsync(DatabaseEndpoint source, string applicationName, CancellationToken cancellationToken)
    {
        await StopAsync(cancellationToken);
        await PrepareDirectoriesAsync(cancellationToken);
        // The old folder stays aside until the new one streams, so nothing is lost if the copy fails.
        string? aside = null;
        if (Directory.Exists(DataDirectory))
        {
            aside = $"{DataDirectory}.old-{DateTime.UtcNow:yyyyMMddHHmmss}";
            Directory.Move(DataDirectory, aside);
        }
        try
        {
            Directory.CreateDirectory(DataDirectory);
            if (ProcessRunner.IsRoot)
                await ProcessRunner.RunAsync("chown", ["postgres", DataDirectory], null, cancellationToken);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await ProcessRunner.RunPostgresAsync(Tool("pg_basebackup"),
                ["-D", DataDirectory, "-d", Libpq(source), "-X", "stream", "-c", "fast", "--no-sync"], null, cancellationToken);
            await WriteStandbyConfigAsync(source, applicationName, cancellationToken);
            await StartAsync(cancellationToken);
            if (!await WaitStreamingAsync(TimeSpan.FromSeconds(30), cancellationToken))
                throw new InvalidOperationException($"the new standby copy does not stream from {source.Host}:{source.Port}");
        }
        catch when (aside is not null)
        {
            // Put the old folder back: a failed copy must not strand the data it replaced, nor pile up on retries.
            await StopAsync(CancellationToken.None);
            if (Directory.Exists(DataDirectory))
                Directory.Delete(DataDirectory, recursive: true);
            Directory.Move(aside, DataDirectory);
            throw;
        }
        if (aside is not null)
            Directory.Delete(aside, recursive: true);
    }

    private async Task WriteStandbyConfigAsync(DatabaseEndpoint source, string applicationName, CancellationToken cancellationToken)
    {
        // pg_rewind and pg_basebackup copy the source's settings: rewrite what must be this node's own (docs/cluster.md).
        var auto = Path.Combine(DataDirectory, "postgresql.auto.conf");
        var lines = File.Exists(auto)
            ? (await File.ReadAllLinesAsync(auto, cancellationToken)).Where(l => !l.StartsWith("primary_conninfo") && !l.StartsWith("primary_slot_name") && !l.StartsWith("synchronous_standby_names")).ToList()
            : ["# Do not edit this file manually!"];
        lines.Add($"primary_conninfo = '{Libpq(source, applicationName).Replace("'", "''")}'");
        lines.Add($"primary_slot_name = '{SlotName(applicationName)}'");
        lines.Add("synchronous_standby_names = ''");
        await File.WriteAllLinesAsync(auto, lines, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(DataDirectory, "standby.signal"), "", cancellationToken);
        if (ProcessRunner.IsRoot)
            await ProcessRunner.RunAsync("chown", ["-R", "postgres", DataDirectory], null, cancellationToken);
    }

    private async Task<bool> WaitStreamingAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var state = await ReadStateAsync(cancellationToken);
            if (state is { Running: true, InRecovery: true, ReceiverStatus: "streaming" })
                return true;
            await Task.Delay(20, cancellationToken);
        }
        return false;
    }
}
