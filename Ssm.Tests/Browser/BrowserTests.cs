using Microsoft.Playwright;
using Ssm.Tests.Support;

namespace Ssm.Tests.Browser;

/// <summary>A real Chromium against a real node: what an operator does, end to end.</summary>
[Collection(NodeCollection.Name)]
public sealed class BrowserTests(NodeFixture fixture) : IAsyncLifetime
{
    private IPlaywright _playwright = default!;
    private IBrowser _browser = default!;

    public async ValueTask InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(LaunchOptions());
    }

    internal static BrowserTypeLaunchOptions LaunchOptions()
    {
        var chromium = Environment.GetEnvironmentVariable("SSM_CHROMIUM") ?? "/usr/bin/chromium";
        if (!File.Exists(chromium))
            throw new InvalidOperationException($"Chromium not found at {chromium}: apt-get install chromium, or set SSM_CHROMIUM.");
        return new()
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    // The nodes present self-signed certificates (until CSC signs one) that this throwaway profile cannot pin.
                    "--ignore-certificate-errors"],
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }

    private async Task<IPage> LogInAsync(string path)
    {
        var context = await _browser.NewContextAsync(new() { BaseURL = fixture.Node.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await LogInAsync(page, path);
        return page;
    }

    internal static async Task LogInAsync(IPage page, string path)
    {
        await page.GotoAsync(path);
        await page.WaitForURLAsync("**/login**");
        await page.FillAsync("#userName", "admin");
        await page.FillAsync("#password", NodeProcess.AdminPassword);
        await page.ClickAsync("button[type=submit]");
        await WaitInteractiveAsync(page);
    }

    // Clicks on the prerendered page are lost: wait until the circuit has taken over.
    internal static Task WaitInteractiveAsync(IPage page) =>
        page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 15_000 });

    // SSM_SCREENSHOTS=DIR keeps pictures of the pages for a human to look at.
    internal static async Task ScreenshotAsync(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("SSM_SCREENSHOTS") is { Length: > 0 } dir)
            await page.ScreenshotAsync(new() { Path = Path.Combine(dir, name + ".png"), FullPage = true });
    }

    internal static ILocator Field(IPage page, string testId) =>
        page.Locator($"input[data-testid={testId}], [data-testid={testId}] input").First;

    [Fact]
    public async Task An_operator_creates_an_account_and_a_second_browser_sees_the_count_change_live()
    {
        var watcher = await LogInAsync("/");
        var countLocator = watcher.Locator("[data-testid=account-count]");
        await countLocator.WaitForAsync();
        var before = int.Parse(await countLocator.InnerTextAsync());

        var page = await LogInAsync("/accounts");
        (await page.Locator("[data-testid=role-badge]").InnerTextAsync()).ShouldBe("Standalone");
        var name = $"Browser {Guid.NewGuid():N}"[..20];
        await Field(page, "new-name").FillAsync(name);
        await Field(page, "new-email").FillAsync("ops@example.com");
        await Field(page, "new-description").FillAsync("made in a real browser");
        await page.ClickAsync("[data-testid=create-account]");

        await page.Locator($"[data-testid=account-row][data-name='{name}']").WaitForAsync(new() { Timeout = 10_000 });

        // The other browser was never reloaded: the change arrives over its live circuit.
        await Assertions.Expect(countLocator).ToHaveTextAsync((before + 1).ToString(), new() { Timeout = 1_000 });
        await ScreenshotAsync(page, "accounts");
        await ScreenshotAsync(watcher, "dashboard");

        await page.ClickAsync("a[href='/events']");
        await WaitInteractiveAsync(page);
        var row = page.Locator("[data-testid=event-table] tr", new() { HasText = name });
        await Assertions.Expect(row).ToContainTextAsync("CreateAccount");
        await Assertions.Expect(row).ToContainTextAsync("Success");
        await Assertions.Expect(row).ToContainTextAsync("admin");
        await ScreenshotAsync(page, "events");

        await page.ClickAsync("[data-testid=logout]");
        await page.WaitForURLAsync("**/login**");
        await page.GotoAsync("/accounts");
        await page.WaitForURLAsync("**/login**");
    }

    [Fact]
    public async Task A_wrong_password_shows_a_message_on_the_login_page()
    {
        var context = await _browser.NewContextAsync(new() { BaseURL = fixture.Node.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/login");
        await page.FillAsync("#userName", "admin");
        await page.FillAsync("#password", "definitely wrong");
        await page.ClickAsync("button[type=submit]");

        await Assertions.Expect(page.Locator("[data-testid=login-error]")).ToContainTextAsync("Wrong user name or password");
    }

    [Fact]
    public async Task A_browser_on_the_HTTP_port_lands_on_the_HTTPS_login_page()
    {
        var context = await _browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(fixture.Node.HttpAddress, "/accounts").ToString());

        await page.WaitForURLAsync($"{fixture.Node.BaseAddress.ToString().TrimEnd('/')}/login**");
        await Assertions.Expect(page.Locator("#userName")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task An_open_dashboard_of_a_demoted_user_is_signed_out_within_seconds()
    {
        await fixture.Node.SetPasswordAsync("circuit", "circuit-password-1", "admin");
        var context = await _browser.NewContextAsync(new() { BaseURL = fixture.Node.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/accounts");
        await page.WaitForURLAsync("**/login**");
        await page.FillAsync("#userName", "circuit");
        await page.FillAsync("#password", "circuit-password-1");
        await page.ClickAsync("button[type=submit]");
        await WaitInteractiveAsync(page);
        await page.WaitForURLAsync("**/accounts");

        await fixture.Node.SetPasswordAsync("circuit", "circuit-password-1", "viewer");

        // No reload: the circuit re-checks its session and sends the browser to the login page.
        await page.WaitForURLAsync("**/login**", new() { Timeout = 5_000 });
    }
}
