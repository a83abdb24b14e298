using Bunit;
using Marten;
using Microsoft.AspNetCore.Components;
using Ssm.Application.Accounts;
using Ssm.Domain.Accounts;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Accounts;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

[Collection(CoreCollection.Name)]
public sealed class AccountsPageTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<List<LocalAccount>> StoredAccounts()
    {
        await using var session = fixture.Query();
        return (await session.Query<LocalAccount>().ToListAsync()).ToList();
    }

    [Fact]
    public async Task The_page_lists_accounts_with_their_status()
    {
        await fixture.Send(new CreateAccount("Lab 1", "first", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);

        var cut = context.Render<Accounts>();

        cut.WaitForAssertion(() => cut.FindAll("[data-testid=account-row]").ShouldHaveSingleItem().TextContent.ShouldContain("New"));
        cut.Find("[data-testid=account-row]").GetAttribute("data-name").ShouldBe("Lab 1");
    }

    [Fact]
    public async Task Creating_from_the_form_adds_the_row_and_stores_the_account()
    {
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Accounts>();
        IRenderedComponent<IComponent> page = cut;

        page.Input("new-name").Change("Lab 2");
        page.Input("new-email").Change("ops@example.com");
        page.Input("new-description").Change("second lab");
        await cut.ClickAsync("create-account");

        cut.WaitForAssertion(() => cut.FindAll("[data-testid=account-row]").ShouldHaveSingleItem().GetAttribute("data-name").ShouldBe("Lab 2"));
        var stored = (await StoredAccounts()).ShouldHaveSingleItem();
        (stored.Name, stored.Description, stored.CreatedBy).ShouldBe(("Lab 2", "second lab", "alice"));
    }

    [Fact]
    public async Task An_invalid_name_shows_the_rule_on_the_field_and_stores_nothing()
    {
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Accounts>();
        IRenderedComponent<IComponent> page = cut;

        page.Input("new-name").Change("no;semicolons");
        page.Input("new-email").Change("ops@example.com");
        await cut.ClickAsync("create-account");

        cut.WaitForAssertion(() => cut.Markup.ShouldContain(AccountRules.NameRuleText));
        (await StoredAccounts()).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_duplicate_name_shows_the_conflict_on_the_name_field()
    {
        await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Accounts>();
        IRenderedComponent<IComponent> page = cut;

        page.Input("new-name").Change("lab 1");
        page.Input("new-email").Change("ops@example.com");
        await cut.ClickAsync("create-account");

        cut.WaitForAssertion(() => cut.Markup.ShouldContain("already exists"));
        (await StoredAccounts()).ShouldHaveSingleItem().Name.ShouldBe("Lab 1");
    }

    [Fact]
    public async Task A_viewer_sees_the_list_without_any_write_control()
    {
        await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "victor", CurrentUser.ViewerRole);

        var cut = context.Render<Accounts>();

        cut.WaitForAssertion(() => cut.FindAll("[data-testid=account-row]").Count.ShouldBe(1));
        cut.FindAll("[data-testid=create-account-form]").ShouldBeEmpty();
        cut.FindAll("[data-testid=delete-account]").ShouldBeEmpty();
        cut.FindAll("[data-testid=edit-account]").ShouldBeEmpty();
    }

    [Fact]
    public async Task Deleting_asks_for_the_name_before_it_deletes()
    {
        await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Accounts>();
        IRenderedComponent<IComponent> page = cut;
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=account-row]").Count.ShouldBe(1));

        await cut.ClickAsync("delete-account");
        cut.WaitForElement("[data-testid=confirm-delete]").HasAttribute("disabled").ShouldBeTrue();
        (await StoredAccounts()).Count.ShouldBe(1);

        page.Input("confirm-name").Input("Lab 1");
        cut.WaitForAssertion(() => cut.Find("[data-testid=confirm-delete]").HasAttribute("disabled").ShouldBeFalse());
        await cut.ClickAsync("confirm-delete");

        cut.WaitForAssertion(() => cut.FindAll("[data-testid=account-row]").ShouldBeEmpty());
        (await StoredAccounts()).ShouldBeEmpty();
    }
}
