using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Domain.Nodes;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// The newcomer's path past the seed's last step, with `./run.sh` itself: a teardown, Ctrl-C, `./run.sh` again
/// (the standalone node alone, at its own address, saying when and by whom the cluster was torn down), then the
/// printed way back, `./run.sh --fresh-secondary`: a new cluster with the standalone node's data, on which the
/// seed's failover and failback work.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RunScriptTests : IAsyncLifetime
{
    private readonly RunScript _run = new();

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync() => await _run.DisposeAsync();

    private static async Task<List<string>> AccountNamesAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<Page<AccountDto>>("/api/accounts?pageSize=100", TestCluster.Json))!.Items.Select(a => a.Name).ToList();

    [Fact]
    public async Task After_a_teardown_run_sh_serves_the_standalone_node_at_its_own_address_and_fresh_secondary_builds_the_cluster_again_with_its_data()
    {
        // First start: the cluster, through the VIP, and the admin password shown once.
        var banner = await _run.StartAsync();
        banner.ShouldContain($"Dashboard (through the VIP):  https://{_run.Vip}:{_run.HttpsPort}/");
        if (Environment.UserName == "root")
        {
            // Products on 443 through the VIP (the kernel redirect carries it too), and only products there.
            banner.ShouldContain($"Products (through the VIP):  https://{_run.Vip}/Transportgateway/services/DeviceRequestHandler");
            using var port443 = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true })
            {
                BaseAddress = new Uri($"https://{_run.Vip}/"),
            };
            (await port443.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await port443.GetAsync("/")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        }
        var password = Regex.Match(banner, @"Log in as admin, password:\s+(\S+)").Groups[1].Value;
        password.ShouldNotBeNullOrEmpty();
        using (var admin = await _run.SignInAsync(_run.Vip, password))
            await OperatorApi.CreateAccountAsync(admin, "KEPT");

        // The seed's last step, as the banner's console verbs are run; then Ctrl-C.
        var teardown = await _run.ConsoleAsync("ha_teardown", _run.Primary);
        teardown.Exit.ShouldBe(0, teardown.Output);
        var discarded = await _run.StatusAsync(_run.Secondary);
        (discarded.Self.Role, discarded.TornDown?.By, discarded.TornDown?.Discarded).ShouldBe((NodeRole.Stopped, "primary", "secondary"));
        (await _run.StopAsync()).ShouldBe(130, _run.Stderr);
        _run.Stderr.ShouldContain("Stopped");

        // The next morning: run.sh starts only the standalone primary and says where it is and what happened.
        banner = await _run.StartAsync();
        var status = await _run.StatusAsync(_run.Primary);
        status.TornDown.ShouldNotBeNull();
        (status.Deployed, status.Self.Role, status.TornDown.By, status.TornDown.Discarded).ShouldBe((false, NodeRole.Standalone, "primary", "secondary"));
        banner.ShouldNotContain("through the VIP");
        banner.ShouldContain("running STANDALONE: the HA cluster was torn down");
        banner.ShouldContain($"Dashboard (the node's own address):  https://{_run.Primary}:{_run.HttpsPort}/");
        banner.ShouldContain($"by ha_teardown on primary at {status.TornDown.At.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC; secondary was discarded");
        banner.ShouldContain($"Nothing answers on the VIP {_run.Vip} any more");
        banner.ShouldContain("./run.sh --fresh-secondary");
        // ha_status (printed above the banner, and at the console) keeps saying it after the restart.
        banner.ShouldContain($"Torn down      by ha_teardown on primary at {status.TornDown.At:u}; primary kept all data");
        var console = await _run.ConsoleAsync("ha_status", _run.Primary);
        (console.Exit, console.Output.Contains("Discarded      secondary (it refuses to rejoin)")).ShouldBe((3, true), console.Output);
        // What answers where: the primary at its own address, with the data; not the VIP, not the discarded secondary.
        using (var standalone = await _run.SignInAsync(_run.Primary, password))
        {
            (await AccountNamesAsync(standalone)).ShouldContain("KEPT");
            // The High Availability page says it too.
            var haPage = await standalone.GetStringAsync("/ha");
            haPage.ShouldContain("data-testid=\"ha-torn-down\"");
            haPage.ShouldContain("secondary was discarded");
        }
        (await RunScript.AnswersAsync(_run.Vip, _run.HttpsPort)).ShouldBeFalse();
        (await RunScript.AnswersAsync(_run.Secondary, _run.HttpsPort)).ShouldBeFalse();
        (await RunScript.AnswersAsync(_run.Secondary, _run.PeerPort)).ShouldBeFalse();
        (await _run.StopAsync()).ShouldBe(130, _run.Stderr);

        // The printed way back: a new cluster from the standalone primary's data, the secondary copied afresh.
        banner = await _run.StartAsync("--fresh-secondary");
        banner.ShouldContain($"Dashboard (through the VIP):  https://{_run.Vip}:{_run.HttpsPort}/");
        banner.ShouldContain("A new cluster, deployed from primary with all its data; secondary was re-provisioned");
        await _run.WaitForAsync(_run.Primary, s => s is { Deployed: true, TornDown: null, Replication.Mode: ReplicationMode.Sync, Heartbeat.Connected: true }
                                                  && s.Self.Role == NodeRole.Active && s.Peer!.Role == NodeRole.Standby);
        using (var cluster = await _run.SignInAsync(_run.Vip, password))
            (await AccountNamesAsync(cluster)).ShouldContain("KEPT");

        // The seed's failover and failback on it: the secondary takes over with the data, TEST made there replicates back.
        (await _run.ConsoleAsync("ha_cluster_stop", _run.Primary)).Exit.ShouldBe(0);
        await _run.WaitForAsync(_run.Secondary, s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary");
        using (var onSecondary = await _run.SignInAsync(_run.Vip, password))
        {
            (await AccountNamesAsync(onSecondary)).ShouldContain("KEPT");
            await OperatorApi.CreateAccountAsync(onSecondary, "TEST");
        }
        (await _run.ConsoleAsync("ha_cluster_start", _run.Primary)).Exit.ShouldBe(0);
        await _run.WaitForAsync(_run.Secondary, s => s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby);
        (await _run.ConsoleAsync("ha_cluster_stop", _run.Secondary)).Exit.ShouldBe(0);
        await _run.WaitForAsync(_run.Primary, s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "primary");
        using (var onPrimary = await _run.SignInAsync(_run.Vip, password))
            (await AccountNamesAsync(onPrimary)).ShouldBe(["KEPT", "TEST"], ignoreOrder: true);
        (await _run.ConsoleAsync("ha_cluster_start", _run.Secondary)).Exit.ShouldBe(0);
        await _run.WaitForAsync(_run.Primary, s => s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby);

        (await _run.StopAsync()).ShouldBe(130, _run.Stderr);
        (await RunScript.AnswersAsync(_run.Primary, _run.HttpsPort)).ShouldBeFalse();
    }
}
