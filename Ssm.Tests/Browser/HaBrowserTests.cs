using Microsoft.Playwright;
using Ssm.Tests.Support;

namespace Ssm.Tests.Browser;

/// <summary>An operator watches the High Availability page through the VIP while the cluster hands over.</summary>
[Collection(ClusterCollection.Name)]
public sealed class HaBrowserTests : IAsyncLifetime
{
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
        await _cluster.WaitForAsync("primary", s => s.HeartbeatConnected && s.Mode == Ssm.Domain.Nodes.ReplicationMode.Sync);

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
}
