using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Npgsql;
using Ssm.Application.Accounts;
using Ssm.Application.Registration;
using Ssm.ProductSimulator;
using Ssm.Tests.Support;

namespace Ssm.Tests.Node;

/// <summary>
/// `ssm backup` from a running node and `ssm restore` onto a fresh one, as an operator runs them: the data as at the
/// backup comes back, later changes do not, and a product registered before the backup reports to the restored node.
/// </summary>
public sealed class BackupRestoreTests : IAsyncLifetime
{
    private const string Passphrase = "backup-passphrase-for-tests";
    private const string HostName = "127.0.0.1";
    private const string Tag = "regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40";
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"ssm-backup-{Guid.NewGuid():N}");
    private CscEmulatorProcess _csc = default!;
    private readonly List<NodeProcess> _nodes = [];

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _csc = await CscEmulatorProcess.StartAsync(Path.Combine(_root, "csc"), "auto", "1.00:00:00");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
            await node.DisposeAsync();
        await _csc.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<NodeProcess> StartAsync(string database, int httpsPort, bool keepDatabase = false)
    {
        var node = await NodeProcess.StartAsync(database, database.Replace('_', '-'),
            ["--csc", _csc.BaseAddress.ToString(), "--csc-root", _csc.RootPath, "--https-port", httpsPort.ToString()],
            keepDatabase: keepDatabase);
        node.Certificates.TrustRoot(_csc.Root);
        _nodes.Add(node);
        return node;
    }

    private static async Task<(int Code, string Output)> SsmAsync(string? passphrase, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(NodeProcess.WebAssemblyPath());
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment.Remove("SSM_BACKUP_PASSPHRASE");
        using var process = Process.Start(start)!;
        // The passphrase on standard input, as an operator types it: never on the command line.
        await process.StandardInput.WriteLineAsync(passphrase ?? "");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    private static async Task<List<string>> AccountNamesAsync(HttpClient client) =>
        System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/api/accounts?pageSize=100")).RootElement
            .GetProperty("items").EnumerateArray().Select(a => a.GetProperty("name").GetString()!).ToList();

    private static UsageReport Report(string id) => new(id, Tag, 2, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_restored_node_holds_the_data_as_at_the_backup_and_serves_products_registered_before_it()
    {
        // A node set up as an operator would: an account activated with CSC, the Host Common Name signed, a product registered.
        var portA = PostgresServer.FreePort();
        var a = await StartAsync("ssm_backup_a", portA);
        using var adminA = await a.SignedInAsync();
        var account = await OperatorApi.CreateAccountAsync(adminA, "Before Backup");
        await OperatorApi.RequestActivationAsync(adminA, account.Id);
        await OperatorApi.SetHostCommonNameAsync(adminA, HostName);
        await OperatorApi.SignForAsync(adminA, HostName, _csc.Root, HostName, portA);
        var token = await OperatorApi.CreateTokenAsync(adminA, account.Id);
        using var productAtA = new ProductClient(new Uri($"https://{HostName}:{portA}/"), _csc.Root);
        var before = await productAtA.RegisterAsync(token.Secret, "C9300-24T", "FOCBACKUP01", "edge-before");
        await productAtA.ReportAsync(before, [Report("before-1")]);

        var file = Path.Combine(_root, "ssm.backup");
        var backup = await SsmAsync(Passphrase, "backup", "--out", file, "--db", a.ConnectionString);
        backup.Code.ShouldBe(0, backup.Output);
        backup.Output.ShouldContain("rows");
        if (!OperatingSystem.IsWindows())
            (File.GetUnixFileMode(file) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)).ShouldBe(UnixFileMode.None);
        (await File.ReadAllBytesAsync(file)).AsSpan().IndexOf("Before Backup"u8).ShouldBe(-1);
        (await SsmAsync(Passphrase, "backup", "--out", file, "--db", a.ConnectionString)).Code.ShouldBe(2); // never overwrites

        // Changes after the backup, which the restore must not bring back.
        await OperatorApi.CreateAccountAsync(adminA, "After Backup");
        var after = await productAtA.RegisterAsync(token.Secret, "C9300-24T", "FOCBACKUP02", "edge-after");

        // A fresh standalone node: a wrong passphrase changes nothing; the right one restores.
        var portB = PostgresServer.FreePort();
        var b = await StartAsync("ssm_backup_b", portB);
        var wrong = await SsmAsync("not the passphrase at all", "restore", "--from", file, "--db", b.ConnectionString);
        wrong.Code.ShouldBe(2, wrong.Output);
        wrong.Output.ShouldContain("passphrase is wrong");
        using (var adminB = await b.SignedInAsync())
            (await AccountNamesAsync(adminB)).ShouldBeEmpty();

        var restore = await SsmAsync(Passphrase, "restore", "--from", file, "--db", b.ConnectionString);
        restore.Code.ShouldBe(0, restore.Output);
        restore.Output.ShouldContain("Restart the node");
        await using (var restoredDatabase = new NpgsqlConnection(b.ConnectionString))
        {
            // The upload queue as at the backup: the product and its report once each, not queued again by the restore.
            await restoredDatabase.OpenAsync();
            await using var queue = new NpgsqlCommand("select count(*) * 1000 + count(distinct item_id) from ssm.sync_outbox", restoredDatabase);
            ((long)(await queue.ExecuteScalarAsync())!).ShouldBe(2_002);
        }
        await b.DisposeAsync();
        _nodes.Remove(b);
        var restored = await StartAsync("ssm_backup_b", portB, keepDatabase: true);

        using var adminRestored = await restored.SignedInAsync();
        (await AccountNamesAsync(adminRestored)).ShouldBe(["Before Backup"]);
        var events = await adminRestored.GetStringAsync("/api/events?category=Cluster");
        events.ShouldContain("RestoreBackup");

        using var productAtRestored = new ProductClient(new Uri($"https://{HostName}:{portB}/"), _csc.Root);
        await productAtRestored.ReportAsync(before, [Report("before-2")]);
        var unknown = await Should.ThrowAsync<ProductRefusedException>(() => productAtRestored.ReportAsync(after, [Report("after-1")]));
        unknown.Status.ShouldBe(401);

        // The restored node is no longer fresh: a second restore is refused and changes nothing.
        var again = await SsmAsync(Passphrase, "restore", "--from", file, "--db", restored.ConnectionString);
        again.Code.ShouldBe(3, again.Output);
        again.Output.ShouldContain("fresh node");
        (await AccountNamesAsync(adminRestored)).ShouldBe(["Before Backup"]);
    }

    [Fact]
    public async Task A_damaged_backup_is_refused_and_the_node_keeps_its_data()
    {
        var a = await StartAsync("ssm_backup_c", PostgresServer.FreePort());
        using (var admin = await a.SignedInAsync())
            await OperatorApi.CreateAccountAsync(admin, "Kept");
        var file = Path.Combine(_root, "damaged.backup");
        (await SsmAsync(Passphrase, "backup", "--out", file, "--db", a.ConnectionString)).Code.ShouldBe(0);
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(file, bytes);

        var fresh = await StartAsync("ssm_backup_d", PostgresServer.FreePort());
        await using var connection = new NpgsqlConnection(fresh.ConnectionString);
        await connection.OpenAsync();
        async Task<long> Users()
        {
            await using var count = new NpgsqlCommand("select count(*) from ssm.mt_doc_useraccount", connection);
            return (long)(await count.ExecuteScalarAsync())!;
        }
        var users = await Users();
        var damaged = await SsmAsync(Passphrase, "restore", "--from", file, "--db", fresh.ConnectionString);
        damaged.Code.ShouldBe(2, damaged.Output);
        damaged.Output.ShouldContain("changed");
        (await Users()).ShouldBe(users);
        using var freshAdmin = await fresh.SignedInAsync();
        (await AccountNamesAsync(freshAdmin)).ShouldBeEmpty();
    }
}
