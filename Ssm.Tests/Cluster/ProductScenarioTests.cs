using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ssm.Application.Api;
using Ssm.Application.Ha;
using Ssm.Application.Licenses;
using Ssm.Application.Registration;
using Ssm.Domain.Nodes;
using Ssm.Application.Products;
using Ssm.Tests.Support;
using Ssm.Web.Endpoints;
using Ssm.ProductSimulator;

namespace Ssm.Tests.Cluster;

/// <summary>
/// The product part of the acceptance scenario (docs/cluster.md, The acceptance scenario), through the VIP over HTTPS: products register
/// before and during a failover, keep reporting across failover and failback without registering again,
/// all are there afterwards with their license counts, and after a teardown they register with the
/// standalone primary under its own name. As in the field (issue 14): the registration token comes from a script that
/// knows only SSM On-Prem's API toolkit (client credentials in the query string of /oauth/token, then the tokens of
/// DEFAULT), and products are configured with https://VIP/Transportgateway/services/DeviceRequestHandler, port 443
/// (where the test may bind it: as root, as in CI; else a product port of its own).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ProductScenarioTests : IAsyncLifetime
{
    private const string Dna = "regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40";
    private TestCluster _cluster = default!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await TestCluster.CreateAsync("ssm_witness_products");
        _cluster.ProductPort = _cluster.ProductPortHere();
    }

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>What a device is configured with: the VIP, no port on 443, the Transport Gateway path.</summary>
    private Uri ProductVip => _cluster.ProductUrlOf(_cluster.Vip, "Transportgateway/services/DeviceRequestHandler");

    /// <summary>A tool of the API toolkit at the VIP's HTTPS port, trusting what the test clients trust.</summary>
    private HttpClient Toolkit(string? bearer = null)
    {
        var http = new HttpClient(_cluster.Certificates.Handler(cookies: false)) { BaseAddress = _cluster.VipUrl, Timeout = TimeSpan.FromSeconds(5) };
        if (bearer is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return http;
    }

    /// <summary>Client credentials → POST /oauth/token with the grant in the query string (the older form tools send) → access token.</summary>
    private async Task<string> AccessTokenAsync(CreatedApiClient client)
    {
        using var http = Toolkit();
        var response = await http.PostAsync($"/oauth/token?grant_type=client_credentials&client_id={Uri.EscapeDataString(client.Client.ClientId)}"
            + $"&client_secret={Uri.EscapeDataString(client.Secret)}", null);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    /// <summary>As the script in docs/api-toolkit.md: a VALID token of DEFAULT from the list, or a new one.</summary>
    private static async Task<(string Token, bool Reused)> RegistrationTokenAsync(HttpClient toolkit, string account)
    {
        var path = $"/api/v1/accounts/{Uri.EscapeDataString(account)}/virtual-accounts/DEFAULT/tokens";
        var listed = await toolkit.GetAsync(path);
        var list = await listed.Content.ReadAsStringAsync();
        listed.StatusCode.ShouldBe(HttpStatusCode.OK, list);
        if (JsonDocument.Parse(list).RootElement.GetProperty("tokens").EnumerateArray()
                .FirstOrDefault(t => t.GetProperty("status").GetString() == "VALID") is { ValueKind: JsonValueKind.Object } valid)
            return (valid.GetProperty("token").GetString()!, true);
        var created = await toolkit.PostAsync(path, new StringContent("""{"description":"rollout","expiresAfterDays":30}""", Encoding.UTF8, "application/json"));
        var body = await created.Content.ReadAsStringAsync();
        created.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        return (JsonDocument.Parse(body).RootElement.GetProperty("tokenInfo").GetProperty("token").GetString()!, false);
    }

    private static UsageReport Report(string id, int count) => new(id, Dna, count, DateTimeOffset.UtcNow.AddMinutes(-30), DateTimeOffset.UtcNow);

    /// <summary>As a product does while the VIP moves: retry the same request until the cluster answers.</summary>
    private static async Task<T> PersistAsync<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (DateTime.UtcNow < deadline
                                       && (ex is HttpRequestException or TaskCanceledException || ex is ProductRefusedException { Status: 503 }))
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>What the Product Instances and Licenses pages show for the account, read through the active node.</summary>
    private async Task<(long Instances, int InUse)> CountsAsync(string node, Guid accountId)
    {
        using var client = await _cluster.SignedInThroughVipAsync((await _cluster.StatusAsync(node)).Self.Role == NodeRole.Standalone
            ? _cluster.HttpsUrlOf(node) : null);
        var page = await client.GetFromJsonAsync<ProductInstancePage>($"/api/product-instances?accountId={accountId}&pageSize=100", TestCluster.Json);
        var licenses = await client.GetFromJsonAsync<List<LicenseDto>>($"/api/licenses?accountId={accountId}", TestCluster.Json);
        page!.Items.Count.ShouldBe((int)page.Total);
        return (page.Total, licenses!.SingleOrDefault(l => l.Tag == Dna)?.InUse ?? 0);
    }

    [Fact]
    public async Task Products_registered_before_during_and_after_failover_and_failback_are_all_there_and_reregister_after_teardown()
    {
        // As root (CI) the products get 443, as run.sh serves it; a fallback there would hide that the VIP's port 443 broke.
        if (Environment.UserName == "root")
            _cluster.ProductPort.ShouldBe(443);
        await _cluster.StartCscAsync("auto");
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);

        // 1. Host Common Name = the VIP. The admin makes the account and its API client in the dashboard; the rest is a tool's.
        using var admin = await _cluster.SignedInThroughVipAsync();
        var lab = await OperatorApi.CreateAccountAsync(admin, "LAB");
        await OperatorApi.RequestActivationAsync(admin, lab.Id);
        await OperatorApi.SetHostCommonNameAsync(admin, _cluster.Vip);
        var apiClient = await admin.PostAsJsonAsync($"/api/accounts/{lab.Id}/api-clients", new { name = "ansible" });
        apiClient.StatusCode.ShouldBe(HttpStatusCode.OK, await apiClient.Content.ReadAsStringAsync());
        var credentials = (await apiClient.Content.ReadFromJsonAsync<CreatedApiClient>(TestCluster.Json))!;
        using var toolkit = Toolkit(await AccessTokenAsync(credentials));
        var (token, reused) = await RegistrationTokenAsync(toolkit, "LAB");
        reused.ShouldBeFalse();
        // Before the sync that has CSC sign the Host Common Name, products are refused, naming both names.
        using (var early = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }))
        {
            var response = await early.PostAsync(ProductVip, new StringContent(
                $$"""{"request":"register","token":"{{token}}","udi":{"pid":"C9300-24T","sn":"EARLY1"},"publicKey":"x"}""", Encoding.UTF8, "application/json"));
            response.StatusCode.ShouldBe(HttpStatusCode.MisdirectedRequest);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
            error.GetProperty("code").GetString().ShouldBe("CERTIFICATE_NOT_READY");
            error.GetProperty("message").GetString()!.ShouldContain(_cluster.Vip);
        }
        await OperatorApi.SignForAsync(admin, _cluster.Vip, _cluster.Csc!.Root, _cluster.Vip, _cluster.HttpsPort);

        // 2. Two products register through the VIP and report; the licenses show what they use.
        // From an address of their own, as a fleet of products: through the VIP's relay the node must still see it.
        var fleet = IPAddress.Parse($"{_cluster.Net}.77");
        using var products = new ProductClient(ProductVip, _cluster.Csc.Root, source: fleet);
        var a = await products.RegisterAsync(token, "C9300-24T", "FOC-A", "edge-a");
        var b = await products.RegisterAsync(token, "C9300-48P", "FOC-B", "edge-b");
        await products.ReportAsync(a, [Report("a-1", 3)]);
        await products.ReportAsync(b, [Report("b-1", 2)]);
        (await CountsAsync("primary", lab.Id)).ShouldBe((2, 5));

        // 3. Failover: ha_cluster_stop on the primary. A and B keep reporting without registering again; C and D register.
        (await _cluster.VerbAsync("primary", "cluster-stop")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary");
        await PersistAsync(() => products.ReportAsync(a, [Report("a-2", 4)]));
        // The stopped primary's own address tells a product, in JSON, to use the VIP.
        using (var stopped = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }))
        {
            var response = await stopped.PostAsync(_cluster.ProductUrlOf(_cluster.PrimaryAddress, SmartTransportEndpoints.Path.TrimStart('/')),
                new StringContent("{}", Encoding.UTF8, "application/json"));
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            // Not kept alive: the product's next request goes through the VIP afresh.
            response.Headers.ConnectionClose.ShouldBe(true);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
            error.GetProperty("code").GetString().ShouldBe("NODE_NOT_ACTIVE");
            error.GetProperty("message").GetString()!.ShouldContain(_cluster.Vip);
        }
        // The tool runs again against the secondary: the same access token, and the token it made is listed with its text
        // (sealed by the replicated key ring), so it reuses it instead of making another.
        var (again, reusedAfterFailover) = await PersistAsync(() => RegistrationTokenAsync(toolkit, "LAB"));
        (again, reusedAfterFailover).ShouldBe((token, true));
        var c = await PersistAsync(() => products.RegisterAsync(again, "C9300-24T", "FOC-C", "edge-c"));
        var d = await PersistAsync(() => products.RegisterAsync(again, "C9300-24T", "FOC-D", "edge-d"));
        await products.ReportAsync(c, [Report("c-1", 1)]);
        await products.ReportAsync(d, [Report("d-1", 1)]);
        (await CountsAsync("secondary", lab.Id)).ShouldBe((4, 4 + 2 + 1 + 1));

        // 4. Failback: the primary rejoins, the secondary stops, the primary is active again; then the secondary rejoins.
        (await _cluster.VerbAsync("primary", "cluster-start")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby, TimeSpan.FromSeconds(40));
        (await _cluster.VerbAsync("secondary", "cluster-stop")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "primary");
        (await _cluster.VerbAsync("secondary", "cluster-start")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby, TimeSpan.FromSeconds(40));

        // All four, with their counts; every one of them still reports with the identity it registered with.
        await PersistAsync(() => products.ReportAsync(b, [Report("b-2", 5)]));
        await products.ReportAsync(c, [Report("c-2", 2)]);
        (await CountsAsync("primary", lab.Id)).ShouldBe((4, 4 + 5 + 2 + 1));
        var replayed = await Should.ThrowAsync<ProductRefusedException>(() => products.ReportAsync(a, [Report("a-2", 4)]));
        replayed.Code.ShouldBe("REPORT_REPLAYED");
        _cluster.Log("primary").ShouldContain($"refused a request from {fleet}: ReportReplayed");
        // The first start made the key ring's table before reading it, instead of logging an error.
        _cluster.Log("primary").ShouldNotContain("error occurred while reading the key ring");
        // The node says sync once it has set synchronous_standby_names; pg_stat_replication follows when the standby caught up.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        List<(string Name, string State, string Sync)> replication;
        while ((replication = await _cluster.ReplicationFromAsync("primary")) is not [(_, "streaming", "sync")] && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        replication.ShouldHaveSingleItem().Sync.ShouldBe("sync");

        // Teardown on the active primary; the Host Common Name becomes its own address; after a sync, products register again there.
        (await _cluster.VerbAsync("primary", "teardown")).Status.ShouldBe(HttpStatusCode.OK);
        var standaloneStatus = await _cluster.WaitForAsync("primary", s => s.Self.Role == NodeRole.Standalone);
        (standaloneStatus.TornDown?.By, standaloneStatus.TornDown?.Discarded).ShouldBe(("primary", "secondary"));
        // At its own address it still presents the certificate signed for the VIP: the operator pins that one.
        await _cluster.Certificates.PinAsync(_cluster.PrimaryAddress, _cluster.HttpsPort);
        using var standalone = await _cluster.SignedInThroughVipAsync(_cluster.HttpsUrlOf("primary"));
        await OperatorApi.SetHostCommonNameAsync(standalone, _cluster.PrimaryAddress);
        await OperatorApi.SignForAsync(standalone, _cluster.PrimaryAddress, _cluster.Csc.Root, _cluster.PrimaryAddress, _cluster.HttpsPort);
        using var direct = new ProductClient(_cluster.ProductUrlOf(_cluster.PrimaryAddress, "Transportgateway/services/DeviceRequestHandler"),
            _cluster.Csc.Root);
        foreach (var product in new[] { a, b, c, d })
        {
            var registered = await direct.RegisterAsync(token, product.Pid, product.SerialNumber, "again", force: true);
            await direct.ReportAsync(registered, [Report($"{product.SerialNumber}-after", 1)]);
        }
        (await CountsAsync("primary", lab.Id)).ShouldBe((4, 4));
    }
}
