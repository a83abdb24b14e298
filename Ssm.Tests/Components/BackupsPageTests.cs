using System.Security.Claims;
using AngleSharp.Dom;
using Bunit;
using Marten;
using Ssm.Domain.Backups;
using Ssm.Domain.Users;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Backups;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

[Collection(CoreCollection.Name)]
public sealed class BackupsPageTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        if (Directory.Exists(fixture.BackupFolder))
            Directory.Delete(fixture.BackupFolder, recursive: true);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static IElement Input(IRenderedComponent<Backups> cut, string testId) =>
        cut.FindAll($"input[data-testid={testId}]").FirstOrDefault() ?? cut.Find($"[data-testid={testId}] input");

    private async Task<BackupSchedule?> StoredAsync()
    {
        await using var session = fixture.Query();
        return await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId);
    }

    [Fact]
    public async Task An_admin_schedules_backups_backs_up_now_and_gets_a_download_link()
    {
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Backups>();
        cut.WaitForElement("[data-testid=backup-schedule]", Wait);
        cut.Markup.ShouldContain("No backups yet.");

        // Bad input: a clear message, nothing stored.
        cut.Find("[data-testid=backup-schedule] input[type=checkbox]").Change(true);
        Input(cut, "backup-passphrase").Change("short");
        await cut.ClickAsync("save-backup-schedule");
        cut.WaitForAssertion(() => cut.Find("[data-testid=backup-message]").TextContent.ShouldBe("The passphrase must be 12–200 characters."), Wait);
        (await StoredAsync()).ShouldBeNull();

        Input(cut, "backup-passphrase").Change("page passphrase of alice");
        Input(cut, "backup-retention").Change("3");
        Input(cut, "backup-interval").Change("6");
        await cut.ClickAsync("save-backup-schedule");
        cut.WaitForAssertion(() => cut.Find("[data-testid=backup-message]").TextContent.ShouldBe("Saved."), Wait);
        cut.Find("[data-testid=backup-next]").TextContent.ShouldContain("Next backup");
        cut.Markup.ShouldNotContain("page passphrase of alice");
        var stored = (await StoredAsync()).ShouldNotBeNull();
        (stored.Enabled, stored.IntervalHours, stored.Retention, stored.SetBy).ShouldBe((true, 6, 3, "alice"));

        await cut.ClickAsync("back-up-now");
        cut.WaitForAssertion(() => cut.Find("[data-testid=backup-message]").TextContent.ShouldStartWith("Backup ssm-backup-"), Wait);
        cut.FindAll("[data-testid=backup-progress]").ShouldBeEmpty();
        var link = cut.Find("[data-testid=backup-download]");
        link.GetAttribute("href").ShouldStartWith("/api/backups/files/ssm-backup-");
        link.HasAttribute("download").ShouldBeTrue();
        File.Exists(Path.Combine(fixture.BackupFolder, link.TextContent.Trim())).ShouldBeTrue();
        cut.Find("[data-testid=backup-runs]").TextContent.ShouldContain("Succeeded");
    }

    [Fact]
    public async Task A_viewer_and_an_account_administrator_see_no_backups()
    {
        await using (var viewer = ComponentTestContext.Create(fixture, "vera", CurrentUser.ViewerRole))
        {
            var cut = viewer.Render<Backups>();
            cut.WaitForAssertion(() => cut.Markup.ShouldContain("Only system administrators"), Wait);
            cut.FindAll("[data-testid=backup-schedule]").ShouldBeEmpty();
        }
        await using var accountAdmin = ComponentTestContext.Create(fixture, "dave", CurrentUser.AccountsRole,
            new Claim(CurrentUser.GrantClaim, CurrentUser.ClaimOf(new AccountGrant(Guid.NewGuid(), AccountAccess.Administrator))));
        var page = accountAdmin.Render<Backups>();
        page.WaitForAssertion(() => page.Markup.ShouldContain("Only system administrators"), Wait);
        page.FindAll("[data-testid=back-up-now]").ShouldBeEmpty();
    }
}
