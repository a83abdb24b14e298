using Bunit;
using Marten;
using Ssm.Domain.Notifications;
using Ssm.Tests.Features.Notifications;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Notifications;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

[Collection(CoreCollection.Name)]
public sealed class NotificationsPageTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task An_admin_saves_the_syslog_server_and_sends_a_test_from_the_page()
    {
        using var receiver = new UdpSyslogReceiver();
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<Notifications>();
        cut.WaitForElement("[data-testid=syslog-host]", Wait);

        cut.FindAll("[data-testid=syslog-settings] input[type=checkbox]").First().Change(true);
        (cut.FindAll("input[data-testid=syslog-host]").FirstOrDefault() ?? cut.Find("[data-testid=syslog-host] input")).Change("127.0.0.1");
        (cut.FindAll("input[data-testid=syslog-port]").FirstOrDefault() ?? cut.Find("[data-testid=syslog-port] input")).Change(receiver.Port.ToString());
        await cut.ClickAsync("save-notifications");
        cut.WaitForAssertion(() => cut.Find("[data-testid=notification-message]").TextContent.ShouldBe("Saved."), Wait);

        await cut.ClickAsync("test-syslog");
        cut.WaitForAssertion(() => cut.Find("[data-testid=notification-message]").TextContent.ShouldContain("Test notification sent"), Wait);
        (await receiver.ReceiveAsync(Wait)).ShouldContain("Test notification from SSM On-Prem, sent by alice");

        await using var session = fixture.Query();
        var stored = await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId);
        stored!.SyslogEnabled.ShouldBeTrue();
        stored.SyslogPort.ShouldBe(receiver.Port);
    }

    [Fact]
    public async Task A_viewer_sees_no_settings()
    {
        await using var context = ComponentTestContext.Create(fixture, "vera", CurrentUser.ViewerRole);
        var cut = context.Render<Notifications>();
        cut.WaitForAssertion(() => cut.Markup.ShouldContain("Only admins"), Wait);
        cut.FindAll("[data-testid=syslog-host]").ShouldBeEmpty();
    }
}
