using System.Net;
using System.Net.Http.Json;
using Marten;
using Npgsql;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain.Accounts;
using Ssm.Domain.Nodes;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// The account-synchronization steps of the acceptance scenario (docs/cluster.md, The acceptance scenario) on two real nodes and the real
/// CSC emulator, through the VIP: sync from the active primary, from the secondary after a handover, an
/// account requested on the secondary that is active after failback; then a crash of the active node in
/// the middle of an upload, which the new active resumes without CSC counting anything twice.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SyncScenarioTests : IAsyncLifetime
{
    private TestCluster _cluster = default!;

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_sync");

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    private static async Task<AccountDto> CreateAsync(HttpClient client, string name)
    {
        var response = await client.PostAsJsonAsync("/api/accounts", new { name, description = "", contactEmail = "ops@example.com" });
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<AccountDto>(TestCluster.Json))!;
    }

    private async Task RequestAndApproveAsync(HttpClient client, AccountDto account)
    {
        var response = await client.PostAsJsonAsync($"/api/accounts/{account.Id}/activation",
            new { user = "csc-operator", password = CscEmulatorProcess.Password });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        (await response.Content.ReadFromJsonAsync<AccountDto>(TestCluster.Json))!.Status.ShouldBe(AccountStatus.Requested);
        using var csc = _cluster.Csc!.Operator();
        var pending = await csc.GetFromJsonAsync<ActivationList>("/csc/v1/admin/activations?status=Pending");
        var request = pending!.Activations.Single(a => a.LocalAccountId == account.Id.ToString());
        (await csc.PostAsJsonAsync($"/csc/v1/admin/activations/{request.RequestId}/approve", new { })).EnsureSuccessStatusCode();
    }

    private sealed record ActivationList(List<ActivationRow> Activations);

    private sealed record ActivationRow(string RequestId, string LocalAccountId, string Status);

    /// <summary>Starts a sync through the VIP and waits for its run to end; returns the run.</summary>
    private static async Task<SyncRunDto> SyncAsync(HttpClient client, Guid? accountId = null)
    {
        var response = await client.PostAsJsonAsync("/api/sync", new { accountId });
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var run = (await response.Content.ReadFromJsonAsync<SyncRunDto>(TestCluster.Json))!;
        return await WaitRunAsync(client, r => r.Id == run.Id && r.Result != SyncResult.Running);
    }

    private static async Task<SyncRunDto> WaitRunAsync(HttpClient client, Func<SyncRunDto, bool> condition, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        Page<SyncRunDto>? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await client.GetFromJsonAsync<Page<SyncRunDto>>("/api/sync/runs?pageSize=50", TestCluster.Json);
                if (last!.Items.FirstOrDefault(condition) is { } run)
                    return run;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // The VIP moves during a failover.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"no sync run reached the expected state; runs: {string.Join("; ", last?.Items.Select(r => $"{r.Scope} {r.Node} {r.Result} {r.Stage} {r.ItemsUp} {r.Error}") ?? [])}");
    }

    /// <summary>An HTTP client for the VIP's HTTPS port that trusts only the CSC root and checks the host name.</summary>
    private HttpClient HttpsClient()
    {
        var root = _cluster.Csc!.Root;
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, errors) => CscEmulatorProcess.TrustedBy(root, certificate, errors),
        };
        return new HttpClient(handler) { BaseAddress = new Uri($"https://{_cluster.Vip}:{_cluster.HttpsPort}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    [Fact]
    public async Task Sync_follows_the_active_node_through_handover_failback_and_a_crash_mid_upload()
    {
        await _cluster.StartCscAsync();
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);

        // Before CSC signed anything, HTTPS through the VIP presents a self-signed certificate products refuse.
        (await _cluster.HttpsThroughVipAsync()).Trusted.ShouldBeFalse();

        // 2. Host Common Name = the VIP; sync succeeds from the active primary and CSC signs the certificate.
        string signed;
        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            (await client.PutAsJsonAsync("/api/certificates/host-common-name", new { name = _cluster.Vip })).EnsureSuccessStatusCode();
            var lab = await CreateAsync(client, "LAB");
            await RequestAndApproveAsync(client, lab);
            var run = await SyncAsync(client, lab.Id);
            (run.Result, run.Node, run.ItemsDown).ShouldBe((SyncResult.Succeeded, "primary", 4L), run.Error);
            var https = await _cluster.WaitHttpsThroughVipAsync(h => h.Trusted);
            https.Subject.ShouldContain(_cluster.Vip);
            signed = https.Thumbprint;
            // The dashboard itself over TLS through the VIP, as a browser trusting the CSC root gets it.
            using var tls = HttpsClient();
            (await tls.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await tls.GetStringAsync("/login")).ShouldContain("<form");
        }

        // 3. ha_cluster_stop on the primary: the secondary is active, and sync succeeds from it; through the
        // VIP it presents the very same certificate (read from the replicated database).
        (await _cluster.VerbAsync("primary", "cluster-stop")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary");
        (await _cluster.WaitHttpsThroughVipAsync(h => h.Trusted)).Thumbprint.ShouldBe(signed);
        using (var client = await _cluster.SignedInThroughVipAsync())
            (await SyncAsync(client)).ShouldSatisfyAllConditions(r => r.Result.ShouldBe(SyncResult.Succeeded, r.Error), r => r.Node.ShouldBe("secondary"));

        // 4–5. The primary rejoins as standby; TEST is created and requested on the active secondary.
        (await _cluster.VerbAsync("primary", "cluster-start")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby, TimeSpan.FromSeconds(40));
        AccountDto test;
        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            test = await CreateAsync(client, "TEST");
            await RequestAndApproveAsync(client, test);
        }

        // 6. ha_cluster_stop on the secondary: the primary is active and TEST is there, requested.
        (await _cluster.VerbAsync("secondary", "cluster-stop")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "primary");
        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            var accounts = await client.GetFromJsonAsync<Page<AccountDto>>("/api/accounts?search=TEST", TestCluster.Json);
            accounts!.Items.Single(a => a.Name == "TEST").Status.ShouldBe(AccountStatus.Requested);
        }

        // 7. The secondary rejoins; the cluster is whole; TEST is synchronized: active with its licenses.
        (await _cluster.VerbAsync("secondary", "cluster-start")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby, TimeSpan.FromSeconds(40));
        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            var run = await SyncAsync(client);
            run.Result.ShouldBe(SyncResult.Succeeded, run.Error);
            var accounts = await client.GetFromJsonAsync<Page<AccountDto>>("/api/accounts?search=TEST", TestCluster.Json);
            accounts!.Items.Single(a => a.Name == "TEST").Status.ShouldBe(AccountStatus.Active);
            var licenses = await client.GetFromJsonAsync<List<LicenseDto>>($"/api/licenses?accountId={test.Id}", TestCluster.Json);
            licenses!.Count.ShouldBe(4);
        }

        // A crash of the active node in the middle of an upload: the new active resumes it; CSC counts each record once.
        const int records = 60_000;
        LocalAccount stored;
        using (var store = _cluster.StoreOf("primary"))
        {
            await using (var query = store.QuerySession())
                stored = (await query.LoadAsync<LocalAccount>(test.Id))!;
            var now = DateTimeOffset.UtcNow;
            await store.BulkInsertDocumentsAsync(Enumerable.Range(0, records).Select(i => new UsageRecord
            {
                Id = Guid.CreateVersion7(), AccountId = test.Id, InstanceId = Guid.Empty, ReportId = $"r-{i}",
                Tag = "regid.2017-07.com.cisco.DNA_Advantage", Count = 1, From = now.AddHours(-1), To = now, ReceivedAt = now,
            }).ToList());
        }
        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            var response = await client.PostAsJsonAsync("/api/sync", new { accountId = test.Id });
            response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
            await WaitRunAsync(client, r => r.Node == "primary" && r.Result == SyncResult.Running && r.ItemsUp > 0);
        }
        await _cluster.CrashAsync("primary");
        await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary", TimeSpan.FromSeconds(20));
        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            var resumed = await WaitRunAsync(client, r => r.Node == "secondary" && r.Trigger == SyncTrigger.CatchUp && r.Result != SyncResult.Running);
            resumed.Result.ShouldBe(SyncResult.Succeeded, resumed.Error);
            var runs = await client.GetFromJsonAsync<Page<SyncRunDto>>("/api/sync/runs?pageSize=50", TestCluster.Json);
            runs!.Items.ShouldContain(r => r.Node == "primary" && r.Result == SyncResult.Interrupted);
        }
        using var csc = _cluster.Csc!.Client();
        csc.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", stored.AccessToken);
        var counted = await csc.GetFromJsonAsync<System.Text.Json.JsonElement>($"/csc/v1/accounts/{stored.CscAccountId}/usage");
        counted.GetProperty("usageRecords").GetInt32().ShouldBe(records);
    }
}
