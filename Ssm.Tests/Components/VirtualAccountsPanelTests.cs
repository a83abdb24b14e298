using Bunit;
using Microsoft.AspNetCore.Components;
using Ssm.Application.Accounts;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Accounts;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

[Collection(CoreCollection.Name)]
public sealed class VirtualAccountsPanelTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task An_admin_creates_renames_and_deletes_a_virtual_account_and_DEFAULT_cannot_be_deleted()
    {
        var account = await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Accounts>();
        IRenderedComponent<IComponent> page = cut;
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=account-row]").Count.ShouldBe(1), TimeSpan.FromSeconds(10));

        await cut.ClickAsync("virtual-accounts");
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=virtual-account-row]").Count.ShouldBe(1), TimeSpan.FromSeconds(10));
        cut.FindAll("[data-testid=delete-virtual-account]").ShouldBeEmpty();
        page.Input("virtual-account-name").Change("Campus");
        await cut.ClickAsync("save-virtual-account");
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=virtual-account-row]").Select(r => r.GetAttribute("data-name")).ShouldBe(["DEFAULT", "Campus"]),
            TimeSpan.FromSeconds(10));

        await cut.ClickAsync("edit-virtual-account", 1);
        cut.WaitForAssertion(() => cut.Find("[data-testid=save-virtual-account]").TextContent.ShouldContain("Save"));
        page.Input("virtual-account-name").Change("Branch");
        await cut.ClickAsync("save-virtual-account");
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=virtual-account-row]").Select(r => r.GetAttribute("data-name")).ShouldBe(["DEFAULT", "Branch"]),
            TimeSpan.FromSeconds(10));

        await cut.ClickAsync("delete-virtual-account");
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=virtual-account-row]").Count.ShouldBe(1), TimeSpan.FromSeconds(10));
        (await fixture.Send(new ListVirtualAccounts(account.Id))).ShouldHaveSingleItem().Name.ShouldBe("DEFAULT");
    }

    [Fact]
    public async Task A_bad_name_shows_the_rule_and_creates_nothing()
    {
        var account = await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Accounts>();
        IRenderedComponent<IComponent> page = cut;
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=account-row]").Count.ShouldBe(1), TimeSpan.FromSeconds(10));
        await cut.ClickAsync("virtual-accounts");
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=virtual-account-row]").Count.ShouldBe(1), TimeSpan.FromSeconds(10));

        page.Input("virtual-account-name").Change("bad/name");
        await cut.ClickAsync("save-virtual-account");

        cut.WaitForAssertion(() => cut.Find("[data-testid=virtual-account-error]").TextContent.ShouldContain("letters, digits"), TimeSpan.FromSeconds(10));
        (await fixture.Send(new ListVirtualAccounts(account.Id))).Count.ShouldBe(1);
    }
}
