using Bunit;
using Marten;
using Ssm.Application.Accounts;
using Ssm.Application.Users;
using Ssm.Domain.Users;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Users;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

[Collection(CoreCollection.Name)]
public sealed class AccessManagementPageTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        await fixture.Send(new SetUserPassword("alice", "alices long password", UserRole.Admin));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task An_admin_creates_a_viewer_of_one_account_then_disables_them()
    {
        var alpha = await fixture.Send(new CreateAccount("Alpha", "", "ops@example.com"));
        await fixture.Send(new CreateAccount("Beta", "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<AccessManagement>();
        cut.WaitForElement("[data-testid=users-table]", Wait);

        cut.Input("new-user-name").Change("carol");
        cut.Input("new-user-password").Change("password1234");
        await cut.ClickAsync("new-grant-Alpha-Viewer");
        await cut.ClickAsync("create-user");
        // The command's own validator speaks under the field, and nothing is sent.
        cut.WaitForAssertion(() => cut.Markup.ShouldContain("among the most common"), Wait);
        (await fixture.Send(new ListUsers())).Select(u => u.UserName).ShouldBe(["alice"]);

        cut.Input("new-user-password").Change("first password for carol");
        await cut.ClickAsync("create-user");
        cut.WaitForAssertion(() =>
        {
            var row = cut.Find("[data-testid=user-row][data-name=carol]");
            row.QuerySelector("[data-testid=user-role]")!.TextContent.ShouldBe("Viewer of Alpha");
            row.QuerySelector("[data-testid=user-must-change]").ShouldNotBeNull();
        }, Wait);
        var carol = (await fixture.Send(new ListUsers())).Single(u => u.UserName == "carol");
        (carol.Role, carol.Grants.Single().AccountId, carol.Grants.Single().Access).ShouldBe((UserRole.Accounts, alpha.Id, AccountAccess.Viewer));

        var index = cut.FindAll("[data-testid=user-row]").ToList().FindIndex(r => r.GetAttribute("data-name") == "carol");
        await cut.ClickAsync("toggle-disabled", index);
        cut.WaitForAssertion(() => cut.Find("[data-testid=user-row][data-name=carol] [data-testid=user-disabled]"), Wait);
        (await fixture.Send(new ListUsers())).Single(u => u.UserName == "carol").Disabled.ShouldBeTrue();
    }

    [Fact]
    public async Task An_admin_changes_a_users_roles_and_a_refusal_is_shown()
    {
        var alpha = await fixture.Send(new CreateAccount("Alpha", "", "ops@example.com"));
        await fixture.Send(new CreateUser("dave", "first password for dave", UserRole.Viewer));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<AccessManagement>();
        cut.WaitForElement("[data-testid=user-row][data-name=dave]", Wait);

        var index = cut.FindAll("[data-testid=user-row]").ToList().FindIndex(r => r.GetAttribute("data-name") == "dave");
        await cut.ClickAsync("edit-roles", index);
        await cut.ClickAsync("edit-role-Accounts");
        await cut.ClickAsync("edit-grant-Alpha-Administrator");
        await cut.ClickAsync("save-roles");
        cut.WaitForAssertion(() => cut.Find("[data-testid=user-row][data-name=dave] [data-testid=user-role]").TextContent.ShouldBe("Administrator of Alpha"), Wait);
        (await fixture.Send(new ListUsers())).Single(u => u.UserName == "dave").Grants.Single().AccountId.ShouldBe(alpha.Id);

        // The last system administrator stays one: the refusal is shown, nothing changes.
        var alice = cut.FindAll("[data-testid=user-row]").ToList().FindIndex(r => r.GetAttribute("data-name") == "alice");
        await cut.ClickAsync("delete-user", alice);
        await cut.ClickAsync("confirm-delete-user");
        cut.WaitForAssertion(() => cut.Find("[data-testid=users-error]").TextContent.ShouldContain("last enabled system administrator"), Wait);
        await using var session = fixture.Query();
        (await session.LoadAsync<UserAccount>("alice")).ShouldNotBeNull();
    }

    [Fact]
    public async Task A_viewer_of_all_accounts_sees_no_users()
    {
        await fixture.Send(new CreateUser("dave", "first password for dave", UserRole.Viewer));
        await using var context = ComponentTestContext.Create(fixture, "victor", CurrentUser.ViewerRole);
        var cut = context.Render<AccessManagement>();
        cut.WaitForElement("[data-testid=users-not-admin]", Wait);
        cut.Markup.ShouldNotContain("dave");
    }
}
