using System.Text;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Notifications;
using Ssm.Domain.Licenses;
using Ssm.Domain.Notifications;
using Ssm.Infrastructure.Notifications;
using Ssm.Tests.Features.Api;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Notifications;

/// <summary>A license whose usage passes what was bought notifies once, by syslog and e-mail, each time it goes out of compliance.</summary>
[Collection(CoreCollection.Name)]
public sealed class LicenseComplianceNotificationTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"ssm-compliance-{Guid.NewGuid():N}");

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();

    public ValueTask DisposeAsync()
    {
        DispatchNotificationsHandler.LicenseCheckInterval = TimeSpan.FromSeconds(30);
        if (Directory.Exists(_folder))
            Directory.Delete(_folder, recursive: true);
        return ValueTask.CompletedTask;
    }

    private async Task BuyAsync(Guid accountId, string tag, int quantity)
    {
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        var entitlement = (await session.LoadAsync<Entitlement>(Entitlement.IdOf(accountId, tag)))!;
        entitlement.Quantity = quantity;
        session.Store(entitlement);
        await session.SaveChangesAsync();
    }

    private Task<int> DispatchAsync() => fixture.SendAs(CurrentUser.Node, new DispatchNotifications());

    [Fact]
    public async Task A_license_going_out_of_compliance_notifies_once_by_syslog_and_email_and_again_after_it_came_back()
    {
        DispatchNotificationsHandler.LicenseCheckInterval = TimeSpan.Zero;
        using var ca = new TestCa();
        using var certificate = ca.IssueServer();
        await using var smtp = await SmtpSink.StartAsync(_folder, certificate, "relay-user", "relay-secret-123");
        using var syslog = new UdpSyslogReceiver();
        await fixture.Send(new SetNotificationSettings(true, "127.0.0.1", syslog.Port, SyslogTransport.Udp, "",
            true, "127.0.0.1", smtp.Port, "relay-user", "relay-secret-123", ca.RootPem, "ssm@example.com", ["ops@example.com"]));
        var sender = ActivatorUtilities.CreateInstance<NotificationSender>(fixture.Services);
        await sender.StartAsync(CancellationToken.None);
        try
        {
            var account = await fixture.Send(new CreateAccount("Compliance Co", "", "ops@example.com"));
            // DNA Essentials: 2 bought, 5 in use (3 of them in the second virtual account); DNA Advantage: 10 bought, 4 in use.
            var branch = await fixture.Send(new CreateVirtualAccount(account.Id, "Branch", ""));
            await ApiSeed.LicensesAsync(fixture.Services.GetRequiredService<IDocumentStore>(), account.Id, branch.Id);

            (await DispatchAsync()).ShouldBe(1);
            var line = await syslog.ReceiveAsync(Wait);
            line.ShouldContain("event=\"LicenseOutOfCompliance\" node=\"test-node\"");
            line.ShouldContain($"License DNA Essentials ({ApiSeed.EssentialsTag}) of account Compliance Co is out of compliance: 5 in use, 2 purchased");
            line.ShouldContain("Branch (3)");
            line.ShouldContain("What to do: Buy more of this license");
            var mail = MimeKit.MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(
                JsonDocument.Parse(await smtp.ReceiveAsync(Wait)).RootElement.GetProperty("data").GetString()!)));
            mail.Subject.ShouldStartWith("SSM On-Prem test-node: License DNA Essentials");
            var body = mail.TextBody.ShouldNotBeNull();
            body.ShouldContain("Node: test-node");
            body.ShouldContain("What to do: Buy more of this license");

            // Still out of compliance: no more notifications, however often the dispatcher looks.
            (await DispatchAsync()).ShouldBe(0);
            (await DispatchAsync()).ShouldBe(0);

            // Bought enough: quiet. Back to too few: a new transition, a new notification.
            await BuyAsync(account.Id, ApiSeed.EssentialsTag, 10);
            (await DispatchAsync()).ShouldBe(0);
            await BuyAsync(account.Id, ApiSeed.EssentialsTag, 4);
            (await DispatchAsync()).ShouldBe(1);
            (await syslog.ReceiveAsync(Wait)).ShouldContain("5 in use, 4 purchased");
        }
        finally
        {
            await sender.StopAsync(CancellationToken.None);
        }
    }
}
