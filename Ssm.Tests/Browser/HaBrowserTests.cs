using Microsoft.Playwright;
using Ssm.Application.Registration;
using Ssm.Tests.Support;
using Ssm.ProductSimulator;

namespace Ssm.Tests.Browser;

/// <summary>An operator watches the High Availability page through the VIP while the cluster hands over.</summary>
[Collection(ClusterCollection.Name)]
public sealed class HaBrowserTests : IAsyncLifetime
{
    private const string Dna = "regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40";
    private TestCluster _cluster = default!;
    private IPlaywright _playwright = default!;
    private IBrowser _browser = default!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await TestCluster.CreateAsync("ssm_witness_browser");
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(BrowserTests.LaunchOptions());
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task The_widget_flips_to_the_secondary_during_a_handover()
    {
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(System.Net.HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Heartbeat.Connected && s.Replication.Mode == Ssm.Domain.Nodes.ReplicationMode.Sync);

        var context = await _browser.NewContextAsync(new() { BaseURL = _cluster.VipUrl.ToString() });
        var page = await context.NewPageAsync();
        await BrowserTests.LogInAsync(page, "/ha");
        await Assertions.Expect(page.Locator("[data-testid=ha-role-primary]")).ToHaveTextAsync("Active");
        await Assertions.Expect(page.Locator("[data-testid=ha-arrow]")).ToHaveTextAsync("⟶");
        await BrowserTests.ScreenshotAsync(page, "ha-before");

        (await _cluster.VerbAsync("primary", "cluster-stop")).Status.ShouldBe(System.Net.HttpStatusCode.OK);

        // The page lived on the old active; it reconnects through the VIP to the new one by itself.
        await Assertions.Expect(page.Locator("[data-testid=ha-role-secondary]")).ToHaveTextAsync("Active", new() { Timeout = 20_000 });
        await Assertions.Expect(page.Locator("[data-testid=ha-role-primary]")).ToHaveTextAsync("Stopped");
        await Assertions.Expect(page.Locator("[data-testid=ha-heartbeat]")).ToContainTextAsync("disconnected");
        await Assertions.Expect(page.Locator("[data-testid=ha-last-failover]")).ToContainTextAsync("planned handover");
        await BrowserTests.ScreenshotAsync(page, "ha-after");
    }

    [Fact]
    public async Task An_operator_activates_an_account_sets_the_Host_Common_Name_and_syncs_before_and_after_a_handover()
    {
        await _cluster.StartCscAsync("auto");
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(System.Net.HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Heartbeat.Connected && s.Replication.Mode == Ssm.Domain.Nodes.ReplicationMode.Sync);
        var context = await _browser.NewContextAsync(new() { BaseURL = _cluster.VipUrl.ToString() });
        var page = await context.NewPageAsync();

        // Accounts: create WEB and request its activation with the CSC login (the emulator approves at once).
        await BrowserTests.LogInAsync(page, "/accounts");
        await BrowserTests.Field(page, "new-name").FillAsync("WEB");
        await BrowserTests.Field(page, "new-email").FillAsync("ops@example.com");
        await page.Locator("[data-testid=create-account]").ClickAsync();
        var row = page.Locator("[data-testid=account-row][data-name=WEB]");
        await row.Locator("[data-testid=request-activation]").ClickAsync();
        await BrowserTests.Field(page, "csc-user").FillAsync("csc-operator");
        await BrowserTests.Field(page, "csc-password").FillAsync(CscEmulatorProcess.Password);
        await page.Locator("[data-testid=csc-submit]").ClickAsync();
        await Assertions.Expect(row.Locator("[data-testid=account-status]")).ToHaveTextAsync("Active");

        // Security › Certificates: the VIP as Host Common Name; stale until the next sync.
        await page.GotoAsync("/security/certificates");
        await BrowserTests.WaitInteractiveAsync(page);
        await BrowserTests.Field(page, "new-host-name").FillAsync(_cluster.Vip);
        await page.Locator("[data-testid=save-host-name]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=certificate-stale]")).ToBeVisibleAsync();

        // Synchronization: sync now; the history shows the run end, live.
        await page.GotoAsync("/sync");
        await BrowserTests.WaitInteractiveAsync(page);
        await page.Locator("[data-testid=sync-all]").ClickAsync();
        await ExplainedAsync(() => Assertions.Expect(page.Locator("[data-testid=sync-run][data-result=Succeeded]")).ToHaveCountAsync(1, new() { Timeout = 60_000 }));
        await BrowserTests.ScreenshotAsync(page, "sync-after");
        await page.GotoAsync("/security/certificates");
        await BrowserTests.WaitInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-testid=certificate-current]")).ToContainTextAsync(_cluster.Vip);
        await page.GotoAsync("/licenses");
        await BrowserTests.WaitInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-testid=license-row][data-account=WEB]")).ToHaveCountAsync(4);

        // Registration Tokens: a new token, shown once. Two products register with it through the VIP over HTTPS
        // (trusting only the CSC root), and Product Instances and Licenses show them without a reload.
        await page.GotoAsync("/registration-tokens");
        await BrowserTests.WaitInteractiveAsync(page);
        await page.Locator("[data-testid=new-token]").ClickAsync();
        await BrowserTests.Field(page, "token-description").FillAsync("rollout");
        await page.Locator("[data-testid=create-token]").ClickAsync();
        var secret = await BrowserTests.Field(page, "token-secret").InputValueAsync();
        secret.Length.ShouldBeGreaterThan(40);
        await page.GotoAsync("/product-instances");
        await BrowserTests.WaitInteractiveAsync(page);
        using var products = new ProductClient(new Uri($"https://{_cluster.Vip}:{_cluster.HttpsPort}/"), _cluster.Csc!.Root);
        // Products trust only the CSC root: wait until the VIP presents the certificate CSC just signed.
        await _cluster.WaitHttpsThroughVipAsync(h => h.Trusted);
        var first = await products.RegisterAsync(secret, "C9300-24T", "FOCWEB1", "web-1");
        await products.RegisterAsync(secret, "C9300-48P", "FOCWEB2", "web-2");
        await products.ReportAsync(first, [new UsageReport("w-1", Dna, 3, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow)]);
        await Assertions.Expect(page.Locator("[data-testid=product-row]")).ToHaveCountAsync(2, new() { Timeout = 10_000 });
        await BrowserTests.ScreenshotAsync(page, "product-instances");
        await page.GotoAsync("/licenses");
        await BrowserTests.WaitInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-testid=license-row][data-account=WEB][data-name='DNA Advantage'] [data-testid=license-in-use]"))
            .ToHaveTextAsync("3");

        // Handover: through the VIP the secondary now answers, with everything, and syncs too.
        await page.GotoAsync("/sync");
        await BrowserTests.WaitInteractiveAsync(page);
        (await _cluster.VerbAsync("primary", "cluster-stop")).Status.ShouldBe(System.Net.HttpStatusCode.OK);
        await _cluster.WaitForAsync("secondary", s => s.Vip.Holder == "secondary");
        await _cluster.WaitVipServesAsync();
        await BrowserTests.GotoAfterTheVipMovedAsync(page, "/sync");
        await BrowserTests.WaitInteractiveAsync(page);
        await page.Locator("[data-testid=sync-all]").ClickAsync(new() { Timeout = 20_000 });
        await Assertions.Expect(page.Locator("[data-testid=sync-run][data-result=Succeeded]")).ToHaveCountAsync(2, new() { Timeout = 20_000 });
        await Assertions.Expect(page.Locator("[data-testid=sync-run]").First).ToContainTextAsync("secondary");
        await page.GotoAsync("/product-instances");
        await BrowserTests.WaitInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-testid=product-row]")).ToHaveCountAsync(2);
    }

    /// <summary>A step that failed says what the nodes were doing: the end of both logs.</summary>
    private async Task ExplainedAsync(Func<Task> step)
    {
        try
        {
            await step();
        }
        catch (PlaywrightException ex)
        {
            static string Tail(string log) => log.Length > 4000 ? log[^4000..] : log;
            throw new InvalidOperationException($"{ex.Message}\n--- primary ---\n{Tail(_cluster.Log("primary"))}\n--- secondary ---\n{Tail(_cluster.Log("secondary"))}", ex);
        }
    }
}
