using Bunit;
using Ssm.Application.Accounts;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Dashboard;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

[Collection(CoreCollection.Name)]
public sealed class DashboardPageTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task The_dashboard_shows_counts_and_the_latest_events()
    {
        await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        await fixture.Send(new CreateAccount("Lab 2", "", "ops@example.com"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.ViewerRole);

        var cut = context.Render<Dashboard>();

        cut.WaitForAssertion(() => cut.Find("[data-testid=account-count]").TextContent.ShouldBe("2"));
        cut.Find("[data-testid=events-today]").TextContent.ShouldBe("2");
        cut.Find("[data-testid=event-table]").TextContent.ShouldContain("Lab 2");
        // A node without a cluster (never deployed, or torn down) shows no HA widget.
        cut.FindAll("[data-testid=ha-widget]").ShouldBeEmpty();
    }

    [Fact]
    public async Task The_dashboard_updates_when_someone_else_changes_something()
    {
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.ViewerRole);
        var cut = context.Render<Dashboard>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=account-count]").TextContent.ShouldBe("0"));

        await fixture.SendAs("bob", CurrentUser.AdminRole, new CreateAccount("From Elsewhere", "", "ops@example.com"));

        cut.WaitForAssertion(() => cut.Find("[data-testid=account-count]").TextContent.ShouldBe("1"), TimeSpan.FromSeconds(1));
        cut.Find("[data-testid=event-table]").TextContent.ShouldContain("From Elsewhere");
    }
}
