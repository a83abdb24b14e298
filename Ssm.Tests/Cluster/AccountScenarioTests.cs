using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Domain.Nodes;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// The account part of the acceptance scenario (docs/cluster.md, The acceptance scenario) on two real nodes with real streaming
/// replication: planned handover, failback, crash failover, automatic rejoin, teardown.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AccountScenarioTests : IAsyncLifetime
{
    private TestCluster _cluster = default!;

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_scenario");

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    private async Task<HttpStatusCode> CreateThroughVip(HttpClient client, string name) =>
        (await client.PostAsJsonAsync("/api/accounts", new { name, description = "", contactEmail = "ops@example.com" })).StatusCode;

    private async Task<List<string>> AccountsThroughVip(HttpClient client)
    {
        var page = await client.GetFromJsonAsync<Page<AccountDto>>("/api/accounts?pageSize=100", TestCluster.Json);
        var names = page!.Items.Select(a => a.Name).ToList();
        for (var p = 2; p <= page.PageCount; p++)
            names.AddRange((await client.GetFromJsonAsync<Page<AccountDto>>($"/api/accounts?pageSize=100&page={p}", TestCluster.Json))!.Items.Select(a => a.Name));
        return names;
    }

    private static void ShouldBeHealthy(HaStatus status, string active, string standby)
    {
        status.Self.Role.ShouldBe(status.Self.Name == active ? NodeRole.Active : NodeRole.Standby, JsonSerializer.Serialize(status));
        status.Vip.Holder.ShouldBe(active);
        status.Heartbeat.Connected.ShouldBeTrue();
        (status.Replication.From, status.Replication.To).ShouldBe((active, standby));
    }

    [Fact]
    public async Task Accounts_survive_handover_failback_crash_rejoin_and_teardown()
    {
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        var deploy = await _cluster.DeployAsync();
        deploy.Status.ShouldBe(HttpStatusCode.OK, deploy.Body);

        // 1. Healthy: primary active with the VIP, replication primary → secondary, synchronous.
        var healthy = await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected && s.Replication.To is not null);
        ShouldBeHealthy(healthy, "primary", "secondary");
        (await _cluster.ReplicationFromAsync("primary")).ShouldBe([("secondary", "streaming", "sync")]);

        // A client writes through the VIP for the whole scenario; every acknowledged write must survive.
        var acknowledged = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            var n = 0;
            HttpClient? client = null;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    client ??= await _cluster.SignedInThroughVipAsync();
                    var name = $"W{++n:00000}";
                    if (await CreateThroughVip(client, name) == HttpStatusCode.Created)
                        acknowledged.Add(name);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or TimeoutException)
                {
                    client?.Dispose();
                    client = null;
                }
                await Task.Delay(20);
            }
            client?.Dispose();
        });

        using var operatorClient = await _cluster.SignedInThroughVipAsync();
        (await CreateThroughVip(operatorClient, "Before Handover")).ShouldBe(HttpStatusCode.Created);

        // 2–3. ha_cluster_stop on the active primary: the secondary takes over, the primary's GUI is down.
        var stopPrimary = await _cluster.VerbAsync("primary", "cluster-stop");
        stopPrimary.Status.ShouldBe(HttpStatusCode.OK, stopPrimary.Body);
        // The secondary hears the stopped primary answer as Stopped within a heartbeat or two.
        var afterHandover = await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary"
            && s.LastFailover is not null && s.Peer!.Role == NodeRole.Stopped && !s.Heartbeat.Connected);
        afterHandover.Heartbeat.Connected.ShouldBeFalse();
        afterHandover.Peer!.Role.ShouldBe(NodeRole.Stopped);
        afterHandover.LastFailover!.Cause.ShouldContain("planned handover");
        using (var plain = new HttpClient(_cluster.Certificates.Handler()))
            (await plain.GetAsync(_cluster.HttpsUrlOf("primary"))).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await AccountsThroughVip(await _cluster.SignedInThroughVipAsync())).ShouldContain("Before Handover");

        // A verb in the wrong state explains and changes nothing.
        var again = await _cluster.VerbAsync("primary", "cluster-stop");
        again.Status.ShouldBe(HttpStatusCode.Conflict);
        again.Body.ShouldContain("already stopped");

        // 4. ha_cluster_start on the primary: it now replicates from the secondary.
        var startPrimary = await _cluster.VerbAsync("primary", "cluster-start");
        startPrimary.Status.ShouldBe(HttpStatusCode.OK, startPrimary.Body);
        var reversed = await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected && s.Replication.To is not null);
        ShouldBeHealthy(reversed, "secondary", "primary");
        (await _cluster.ReplicationFromAsync("secondary")).ShouldBe([("primary", "streaming", "sync")]);

        // 5. TEST is created on the active secondary through the VIP.
        using (var onSecondary = await _cluster.SignedInThroughVipAsync())
            (await CreateThroughVip(onSecondary, "TEST")).ShouldBe(HttpStatusCode.Created);

        // 6. ha_cluster_stop on the secondary: the primary is active again and TEST is there.
        var stopSecondary = await _cluster.VerbAsync("secondary", "cluster-stop");
        stopSecondary.Status.ShouldBe(HttpStatusCode.OK, stopSecondary.Body);
        await _cluster.WaitForAsync("primary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "primary");
        (await AccountsThroughVip(await _cluster.SignedInThroughVipAsync())).ShouldContain("TEST");
        using (var plain = new HttpClient(_cluster.Certificates.Handler()))
            (await plain.GetAsync(_cluster.HttpsUrlOf("secondary"))).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);

        // 7. ha_cluster_start on the secondary: replication primary → secondary again.
        (await _cluster.VerbAsync("secondary", "cluster-start")).Status.ShouldBe(HttpStatusCode.OK);
        ShouldBeHealthy(await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected && s.Replication.To is not null), "primary", "secondary");
        (await _cluster.ReplicationFromAsync("primary")).ShouldBe([("secondary", "streaming", "sync")]);

        // Crash: kill -9 of the active primary and its PostgreSQL; the witness lets the secondary take over.
        // (The standby takes over on its own only once it has heard that replication is synchronous.)
        await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync);
        await _cluster.CrashAsync("primary");
        var afterCrash = await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary"
            && s.LastFailover?.Cause.Contains("crash") == true);
        afterCrash.LastFailover!.Cause.ShouldContain("crash failover");
        afterCrash.Epoch.ShouldBeGreaterThan(reversed.Epoch);

        // The crashed primary restarts and rejoins by itself, as standby of the new active.
        await _cluster.StartNodeAsync("primary");
        ShouldBeHealthy(await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected && s.Replication.To is not null, TimeSpan.FromSeconds(40)),
            "secondary", "primary");

        await stop.CancelAsync();
        await writer;
        var survivors = await AccountsThroughVip(await _cluster.SignedInThroughVipAsync());
        acknowledged.Count.ShouldBeGreaterThan(20);
        acknowledged.Except(survivors).ShouldBeEmpty("acknowledged writes were lost");
        survivors.ShouldContain("TEST");

        // Teardown on the active: it becomes standalone, the other node is discarded and refuses to rejoin.
        var teardown = await _cluster.VerbAsync("secondary", "teardown");
        teardown.Status.ShouldBe(HttpStatusCode.OK, teardown.Body);
        var standalone = await _cluster.StatusAsync("secondary");
        standalone.Deployed.ShouldBeFalse();
        standalone.Self.Role.ShouldBe(NodeRole.Standalone);
        var discarded = await _cluster.VerbAsync("primary", "cluster-start");
        discarded.Status.ShouldBe(HttpStatusCode.Conflict);
        discarded.Body.ShouldContain("discarded");
        (await _cluster.StatusAsync("primary")).Self.Role.ShouldBe(NodeRole.Stopped);
        using (var direct = new HttpClient(_cluster.Certificates.Handler()) { BaseAddress = _cluster.HttpsUrlOf("secondary") })
            (await direct.PostAsJsonAsync("/api/session", new { userName = "admin", password = NodeProcess.AdminPassword })).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
