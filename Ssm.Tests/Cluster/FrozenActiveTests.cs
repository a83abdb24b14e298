using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;
using Ssm.Domain.Nodes;
using Ssm.Infrastructure.Ha;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// A frozen active (SIGSTOP: a GC pause, a stopped VM, a debugger) while a client writes through the one-machine
/// VIP: the kernel's redirect moves to the new active although the old one cannot let go (decision 0021), so the
/// longest gap in acknowledged writes is that of a crash, not of the freeze. Nothing acknowledged is lost, and at
/// no sampled moment can two databases acknowledge a write. Needs root and nftables (else the VIP is relayed
/// inside the frozen node, and the test says so and is skipped).
/// </summary>
[Collection(TimedClusterCollection.Name)]
public sealed partial class FrozenActiveTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Freeze = TimeSpan.FromSeconds(10);
    private TestCluster _cluster = default!;
    private readonly List<int> _frozen = [];
    private Process? _writer;
    private readonly StringBuilder _writerLog = new();

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_frozen_active");

    public async ValueTask DisposeAsync()
    {
        await ThawAsync();
        if (_writer is { HasExited: false })
        {
            _writer.Kill();
            await _writer.WaitForExitAsync();
        }
        _writer?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Freezing_the_active_node_process_moves_the_VIP_within_the_failover_time_and_loses_no_write()
    {
        // The frozen node's guard kills its PostgreSQL at once (the node is stopped), and the standby takes over on the
        // refusal of that port, as after a crash (decision 0042), not after the lease; the bound leaves room for two cores
        // shared with other work.
        var twoPrimaries = await RunAsync("frozen_node_gap_ms", Freeze * 0.7, async () =>
        {
            await StopAsync([_cluster.ProcessIdOf("primary")]);
            return "the node process";
        });
        // Its database guard killed the frozen node's PostgreSQL before the lease could run out (decision 0040), so at no
        // sampled moment were there two primaries, even ones unable to acknowledge.
        twoPrimaries.ShouldBe(0);
        // Thawed, the old active finds the VIP at the other node, leaves that redirect alone and steps down.
        await _cluster.WaitForAsync("primary", s => s.Self.Role != NodeRole.Active);
        _cluster.Log("primary").ShouldContain("already redirected to another node");
        _cluster.Log("primary").ShouldContain("Database guard: ");
        _cluster.Log("primary").ShouldContain("the node is stopped (state T)");
        _cluster.Log("secondary").ShouldContain("Active primary gone (its host refuses connections to its PostgreSQL)");
        (await RedirectTargetAsync()).ShouldBe(_cluster.SecondaryAddress);
    }

    [Fact]
    public async Task Freezing_the_active_database_moves_the_VIP_and_loses_no_write()
    {
        // The active steps down after its database timeout (3 s, so that load is not taken for death), then the
        // standby takes the expired lease: the clients wait that long, never for the whole freeze.
        await RunAsync("frozen_database_gap_ms", Freeze * 0.8, async () =>
        {
            var postmaster = int.Parse(File.ReadLines(Path.Combine(_cluster.DataOf("primary"), "pg", "postmaster.pid")).First());
            // The postmaster first, so that it starts no backend meanwhile; a backend may still end before its turn.
            await StopAsync([postmaster]);
            var children = (await Shell.RunAsync("sh", ["-c", $"pgrep -P {postmaster} || true"]))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
            _frozen.AddRange(children);
            await Shell.RunAsync("sh", ["-c", $"kill -STOP {string.Join(' ', children)} 2>/dev/null || true"]);
            return "its PostgreSQL";
        });
        _cluster.Log("primary").ShouldContain("stepped down: its own database has not answered");
    }

    /// <summary>Freezes, measures and checks; returns the samples that found two primaries (able to acknowledge or not).</summary>
    private async Task<int> RunAsync(string measurement, TimeSpan longestGap, Func<Task<string>> freeze)
    {
        if (await WhyNotAsync() is { } reason)
        {
            output.WriteLine($"skipped: {reason}");
            Assert.Skip(reason);
        }
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Heartbeat.Connected && s.Replication.Mode == ReplicationMode.Sync && s.Vip.Holder == "primary");
        await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync);
        await WaitForAsync(() => _cluster.Log("primary").Contains("the kernel redirects it to"), TimeSpan.FromSeconds(10), "the VIP was never redirected");
        (await RedirectTargetAsync()).ShouldBe(_cluster.PrimaryAddress);

        var root = _cluster.DataOf("writer");
        Directory.CreateDirectory(root);
        var acknowledged = Path.Combine(root, "acknowledged.txt");
        var stop = Path.Combine(root, "stop");
        StartWriter(root, acknowledged, stop, [await FingerprintAsync("primary"), await FingerprintAsync("secondary")]);
        using var sampling = new CancellationTokenSource();
        var sampler = SampleAsync(sampling.Token);
        await WaitForAsync(() => Lines(acknowledged).Count >= 20, TimeSpan.FromSeconds(30),
            () => $"the client never wrote through the VIP\n--- writer ---\n{_writerLog}\n--- primary ---\n{_cluster.Log("primary")}");

        var frozenAt = DateTimeOffset.UtcNow;
        var what = await freeze();
        try
        {
            var promoted = await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary"
                && s.LastFailover is not null, TimeSpan.FromSeconds(20));
            promoted.LastFailover!.From.ShouldBe("primary");
            await WaitForAsync(() => Lines(acknowledged).Any(l => l.At > frozenAt), Freeze, $"no write acknowledged while {what} was frozen");
            (await RedirectTargetAsync()).ShouldBe(_cluster.SecondaryAddress);
            // Frozen for the whole time; the writer goes on meanwhile.
            var left = frozenAt + Freeze - DateTimeOffset.UtcNow;
            if (left > TimeSpan.Zero)
                await Task.Delay(left);
        }
        finally
        {
            await ThawAsync();
        }

        // Thawed, the old active rejoins as standby of the new one; the writer keeps writing through it all.
        await _cluster.WaitForAsync("secondary", s => s.Heartbeat.Connected && s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby,
            TimeSpan.FromSeconds(60));
        var thawedAt = DateTimeOffset.UtcNow;
        await WaitForAsync(() => Lines(acknowledged).Any(l => l.At > thawedAt), TimeSpan.FromSeconds(10), "no write acknowledged after the rejoin");
        await File.WriteAllTextAsync(stop, "");
        await _writer!.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await sampling.CancelAsync();
        var (samples, twoWriters, twoPrimaries) = await sampler;

        var lines = Lines(acknowledged);
        var gaps = lines.Zip(lines.Skip(1), (a, b) => (From: a.At, Length: b.At - a.At)).ToList();
        var longest = gaps.MaxBy(g => g.Length);
        output.WriteLine($"{what} frozen {Freeze.TotalSeconds:0} s at {frozenAt:HH:mm:ss.fff}: longest gap in acknowledged writes "
            + $"{longest.Length.TotalMilliseconds:0} ms, from {(longest.From - frozenAt).TotalMilliseconds:0} ms after the freeze; {lines.Count} writes acknowledged");
        output.WriteLine($"samples {samples}: two databases able to acknowledge a write {twoWriters}, two primaries {twoPrimaries}");
        foreach (var node in new[] { "primary", "secondary" })
            output.WriteLine(string.Join('\n', _cluster.Log(node).Split('\n').Where(l => Regex.IsMatch(l, "Role |VIP |Fenced|stepped|takes over|taking over|Failover|Joining"))));
        if (Environment.GetEnvironmentVariable("SSM_MEASUREMENTS") is { Length: > 0 } measurements)
            await File.AppendAllTextAsync(measurements, $"{measurement} {longest.Length.TotalMilliseconds:0}\n");

        // A freeze may cost what a crash costs, never the freeze itself: the relay inside a frozen node made it 10 s.
        longest.Length.ShouldBeLessThan(longestGap, $"writer:\n{_writerLog}");
        samples.ShouldBeGreaterThan(50);
        twoWriters.ShouldBe(0);
        var stored = await AccountNamesAsync("secondary");
        lines.Select(l => l.Name).Except(stored).ShouldBeEmpty("acknowledged writes were lost");
        return twoPrimaries;
    }

    private static async Task<string?> WhyNotAsync()
    {
        if (Environment.UserName != "root")
            return "the kernel redirect of the loopback VIP needs root";
        return await NftRedirect.WhyNotAsync("127.0.0.14", "127.0.0.11", CancellationToken.None);
    }

    private async Task StopAsync(int[] pids)
    {
        _frozen.AddRange(pids);
        await Shell.RunAsync("kill", ["-STOP", .. pids.Select(p => p.ToString())]);
    }

    private async Task ThawAsync()
    {
        if (_frozen.Count == 0)
            return;
        await Shell.RunAsync("sh", ["-c", $"kill -CONT {string.Join(' ', _frozen)} 2>/dev/null || true"]);
        _frozen.Clear();
    }

    /// <summary>Where the kernel sends the VIP now: the address in the redirect rule, or null when there is none.</summary>
    private async Task<string?> RedirectTargetAsync()
    {
        var chain = await Shell.RunAsync("nft", ["list", "chain", "ip", NftRedirect.TableOf(_cluster.Vip), "vip"]);
        var target = Regex.Matches(chain, @"dnat to ([0-9.]+)").Select(m => m.Groups[1].Value).ToList();
        target.Count.ShouldBeLessThanOrEqualTo(1, chain);
        return target.SingleOrDefault();
    }

    private async Task<string> FingerprintAsync(string node)
    {
        var fingerprint = await Shell.RunAsync("sh", ["-c",
            $"openssl s_client -connect {_cluster.AddressOf(node)}:{_cluster.HttpsPort} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"]);
        return fingerprint.Trim().Split('=').Last().Replace(":", "").ToLowerInvariant();
    }

    private void StartWriter(string root, string acknowledged, string stop, string[] pins)
    {
        var script = Path.Combine(root, "writer.py");
        File.WriteAllText(script, NamespaceFailoverTests.WriterScript);
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        // A patient client (2 s per request): at a takeover the VIP's connections are reset, so patience costs no gap.
        foreach (var arg in new[] { script, _cluster.Vip, _cluster.HttpsPort.ToString(), NodeProcess.AdminPassword, acknowledged, stop, string.Join(",", pins), "2" })
            start.ArgumentList.Add(arg);
        _writer = Process.Start(start)!;
        _writer.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_writerLog) _writerLog.AppendLine(e.Data); };
        _writer.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_writerLog) _writerLog.AppendLine(e.Data); };
        _writer.BeginOutputReadLine();
        _writer.BeginErrorReadLine();
    }

    private static Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string failure) => WaitForAsync(condition, timeout, () => failure);

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, Func<string> failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(failure());
            await Task.Delay(50);
        }
    }

    private static List<(string Name, DateTimeOffset At)> Lines(string path)
    {
        if (!File.Exists(path))
            return [];
        // Only whole lines: the writer may be halfway through the last one.
        return File.ReadAllLines(path).Where(l => WholeLine().IsMatch(l)).Select(l =>
        {
            var parts = l.Split(' ');
            return (parts[0], DateTimeOffset.FromUnixTimeMilliseconds((long)(double.Parse(parts[1], CultureInfo.InvariantCulture) * 1000)));
        }).ToList();
    }

    [GeneratedRegex(@"^\S+ \d+\.\d{6}$")]
    private static partial Regex WholeLine();

    private string Socket(string node, string database = "ssm") => new NpgsqlConnectionStringBuilder
    {
        Host = Path.Combine(_cluster.DataOf(node), "pg-run"), Port = _cluster.PgPort, Username = "postgres", Database = database,
        Pooling = false, Timeout = 1, CommandTimeout = 1,
    }.ConnectionString;

    /// <summary>
    /// Whether the node's database is a primary, and whether it could acknowledge a write: a primary whose
    /// synchronous standby is gone cannot (a frozen node's database stays a primary; only that makes it safe).
    /// </summary>
    private async Task<(bool Primary, bool CanAcknowledge)> WritableAsync(string node)
    {
        try
        {
            await using var connection = new NpgsqlConnection(Socket(node, "postgres"));
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("""
                select not pg_is_in_recovery(), not pg_is_in_recovery() and (current_setting('synchronous_standby_names') = ''
                    or exists (select 1 from pg_stat_replication where sync_state in ('sync', 'quorum')))
                """, connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetBoolean(0), reader.GetBoolean(1));
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return (false, false);
        }
    }

    private async Task<(int Samples, int TwoWriters, int TwoPrimaries)> SampleAsync(CancellationToken cancellationToken)
    {
        var (samples, writers, primaries) = (0, 0, 0);
        while (!cancellationToken.IsCancellationRequested)
        {
            var checks = await Task.WhenAll(WritableAsync("primary"), WritableAsync("secondary"));
            samples++;
            if (checks[0].CanAcknowledge && checks[1].CanAcknowledge)
                writers++;
            if (checks[0].Primary && checks[1].Primary)
                primaries++;
            try
            {
                await Task.Delay(20, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
        }
        return (samples, writers, primaries);
    }

    private Task<List<string>> AccountNamesAsync(string node) => NodeDatabase.AccountNamesAsync(Socket(node));
}
