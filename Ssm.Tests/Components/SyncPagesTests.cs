using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Sync;
using Ssm.Domain.Accounts;
using Ssm.Tests.Features.Sync;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Accounts;
using Ssm.Web.Components.Pages.Licenses;
using Ssm.Web.Components.Pages.Sync;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

/// <summary>The Accounts, Synchronization and Licenses pages against the real CSC emulator, updating live.</summary>
public sealed class SyncPagesTests(SyncPagesCscFixture fixture) : IClassFixture<SyncPagesCscFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task An_operator_requests_activation_on_the_Accounts_page_with_the_CSC_login()
    {
        // CSC keeps its accounts across the tests of this class: a name of its own.
        var account = await fixture.Send(new CreateAccount($"Lab-{Guid.NewGuid():N}"[..12], "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Accounts>();
        IRenderedComponent<IComponent> page = cut;

        cut.WaitForElement("[data-testid=request-activation]", Wait);
        // Found and clicked on the renderer's own thread: a live update of the list between the two would leave the
        // click on a handler that no longer exists.
        await cut.ClickAsync("request-activation");
        page.Input("csc-user").Change("csc-operator");
        page.Input("csc-password").Change("wrong");
        await cut.ClickAsync("csc-submit");
        cut.WaitForAssertion(() => cut.Find("[data-testid=table-error]").TextContent.ShouldContain("CSC refused"), Wait);
        cut.Find("[data-testid=account-status]").TextContent.ShouldBe("New");

        page.Input("csc-password").Change(CscEmulatorProcess.Password);
        await cut.ClickAsync("csc-submit");
        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=account-status]").TextContent.ShouldBe("Requested", cut.FindAll("[data-testid=table-error]").FirstOrDefault()?.TextContent);
            cut.FindAll("[data-testid=csc-credentials]").ShouldBeEmpty();
        }, Wait);
        await using var query = fixture.Query();
        (await query.LoadAsync<LocalAccount>(account.Id))!.Status.ShouldBe(AccountStatus.Requested);
    }

    [Fact]
    public async Task Synchronize_all_now_shows_the_run_in_the_history_and_the_licenses_appear_live()
    {
        var account = await fixture.Send(new CreateAccount($"Lab-{Guid.NewGuid():N}"[..12], "", "ops@example.com"));
        await fixture.Send(new RequestActivation(account.Id, CscFixture.Operator));
        await using (var query = fixture.Query())
            await fixture.AdminAsync((await query.LoadAsync<LocalAccount>(account.Id))!.ActivationRequestId!, "approve");

        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var sync = context.Render<Synchronization>();
        var licenses = context.Render<Licenses>();
        sync.WaitForAssertion(() => sync.Markup.ShouldContain("No synchronization yet."), Wait);
        licenses.WaitForAssertion(() => licenses.Markup.ShouldContain("No licenses yet"), Wait);

        await sync.ClickAsync("sync-all");

        sync.WaitForAssertion(() => sync.FindAll("[data-testid=sync-run]").ShouldHaveSingleItem().GetAttribute("data-result").ShouldBe("Succeeded"),
            TimeSpan.FromSeconds(20));
        sync.FindAll("[data-testid=sync-progress]").ShouldBeEmpty();
        licenses.WaitForAssertion(() => licenses.FindAll("[data-testid=license-row]").Count.ShouldBe(4), Wait);
        licenses.Find("[data-testid=license-row][data-name='DNA Advantage'] [data-testid=license-quantity]").TextContent.ShouldBe("100");
    }

    [Fact]
    public async Task An_invalid_schedule_is_refused_on_the_page_and_a_valid_one_shows_the_next_run()
    {
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Synchronization>();
        IRenderedComponent<IComponent> page = cut;

        // Loaded first: the stored schedule fills the form when it arrives.
        cut.WaitForElement("[data-testid=next-run]", Wait);
        page.Input("at").Change("25:99");
        await cut.ClickAsync("save-schedule");
        cut.WaitForAssertion(() => cut.Find("[data-testid=sync-error]").TextContent.ShouldContain("not a time of day"), Wait);
        (await fixture.Send(new GetSyncSchedule())).SetBy.ShouldBe("");

        page.Input("at").Change("03:15");
        await cut.ClickAsync("save-schedule");
        cut.WaitForAssertion(() => cut.Find("[data-testid=next-run]").TextContent.ShouldContain("03:15 UTC"), Wait);
        var stored = await fixture.Send(new GetSyncSchedule());
        (stored.At, stored.SetBy).ShouldBe((new TimeOnly(3, 15), "alice"));
    }

    [Fact]
    public async Task Offline_the_page_downloads_the_request_file_and_applies_the_uploaded_response()
    {
        var account = await fixture.Send(new CreateAccount($"Off-{Guid.NewGuid():N}"[..12], "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var download = context.JSInterop.SetupVoid("ssmDownload", _ => true);
        download.SetVoidResult();
        var cut = context.Render<Synchronization>();

        await cut.ClickAsync("offline-request");
        cut.WaitForAssertion(() => cut.Find("[data-testid=offline-result]").TextContent.ShouldContain("1 accounts"), Wait);
        var request = download.Invocations.ShouldHaveSingleItem().Arguments[1].ShouldBeOfType<string>();
        request.ShouldContain(account.Id.ToString());

        // CSC (manual approval here) answers the file; an operator approved the account meanwhile.
        using (var csc = fixture.Csc.Operator())
        {
            var pending = await csc.PostAsync("/csc/v1/offline", new StringContent(request, System.Text.Encoding.UTF8, "application/json"));
            pending.EnsureSuccessStatusCode();
            var list = System.Text.Json.JsonDocument.Parse(await csc.GetStringAsync("/csc/v1/admin/activations?status=Pending")).RootElement;
            var requestId = list.GetProperty("activations").EnumerateArray()
                .Single(a => a.GetProperty("localAccountId").GetString() == account.Id.ToString()).GetProperty("requestId").GetString();
            await fixture.AdminAsync(requestId!, "approve");
        }
        string response;
        using (var csc = fixture.Csc.Operator())
        {
            var answered = await csc.PostAsync("/csc/v1/offline", new StringContent(request, System.Text.Encoding.UTF8, "application/json"));
            response = await answered.Content.ReadAsStringAsync();
            answered.EnsureSuccessStatusCode();
        }

        cut.FindComponent<Microsoft.AspNetCore.Components.Forms.InputFile>()
            .UploadFiles(InputFileContent.CreateFromText(response, "response.json"));
        cut.WaitForAssertion(() => cut.Find("[data-testid=offline-result]").TextContent.ShouldContain("1 activated"), Wait);
        await using var query = fixture.Query();
        (await query.LoadAsync<LocalAccount>(account.Id))!.Status.ShouldBe(AccountStatus.Active);
    }

    [Fact]
    public async Task A_viewer_sees_the_history_but_no_schedule_form_or_sync_button()
    {
        await using var context = ComponentTestContext.Create(fixture, "victor", CurrentUser.ViewerRole);
        var cut = context.Render<Synchronization>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=sync-history]"), Wait);
        cut.FindAll("[data-testid=schedule-form]").ShouldBeEmpty();
        cut.FindAll("[data-testid=sync-all]").ShouldBeEmpty();
    }
}
