using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Common;
using Ssm.Application.Notifications;
using Ssm.Domain.Events;
using Ssm.Domain.Notifications;
using Ssm.Infrastructure.Notifications;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Notifications;

[Collection(CoreCollection.Name)]
public sealed class NotificationTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"ssm-notify-{Guid.NewGuid():N}");

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();

    public ValueTask DisposeAsync()
    {
        if (Directory.Exists(_folder))
            Directory.Delete(_folder, recursive: true);
        return ValueTask.CompletedTask;
    }

    private static SetNotificationSettings Syslog(int port, SyslogTransport transport, string caPem = "") =>
        new(true, "127.0.0.1", port, transport, caPem, false, "", 587, "", null, "", "", []);

    private static SetNotificationSettings Email(int port, string caPem, string user, string? password) =>
        new(false, "", 514, SyslogTransport.Udp, "", true, "127.0.0.1", port, user, password, caPem, "ssm@example.com", ["ops@example.com", "oncall@example.com"]);

    // RFC 5424: <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA BOM MSG
    private static readonly Regex Rfc5424 = new(
        @"^<(?<pri>\d{1,3})>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (?<host>\S+) ssm \d+ (?<msgid>\S+) \[ssm@32473 event=""(?<event>[^""]*)"" node=""[^""]*""\] \uFEFF(?<msg>.+)$",
        RegexOptions.Singleline);

    [Fact]
    public async Task A_test_notification_reaches_a_syslog_server_over_udp_in_rfc_5424()
    {
        using var receiver = new UdpSyslogReceiver();
        await fixture.Send(Syslog(receiver.Port, SyslogTransport.Udp));
        (await fixture.Send(new SendTestNotification(NotificationChannel.Syslog))).ShouldContain($"127.0.0.1:{receiver.Port}");

        var match = Rfc5424.Match(await receiver.ReceiveAsync(Wait));
        match.Success.ShouldBeTrue();
        match.Groups["pri"].Value.ShouldBe("133"); // local0.notice
        match.Groups["host"].Value.ShouldBe("test-node");
        match.Groups["msgid"].Value.ShouldBe("Test");
        match.Groups["msg"].Value.ShouldContain("What to do:");
        (await fixture.Send(new Ssm.Application.Events.ListEvents())).Items
            .ShouldContain(e => e.Action == nameof(SendTestNotification) && e.Outcome == EventOutcome.Success);
    }

    [Fact]
    public async Task A_test_notification_reaches_a_syslog_server_over_tls_and_a_server_of_another_ca_gets_nothing()
    {
        using var ca = new TestCa();
        using var certificate = ca.IssueServer();
        await using var receiver = new TlsSyslogReceiver(certificate);
        await fixture.Send(Syslog(receiver.Port, SyslogTransport.TcpTls, ca.RootPem));
        await fixture.Send(new SendTestNotification(NotificationChannel.Syslog));
        var match = Rfc5424.Match(await receiver.ReceiveAsync(Wait));
        match.Success.ShouldBeTrue();
        match.Groups["event"].Value.ShouldBe("Test");

        // An impostor with a certificate of another CA on the same kind of port: the node refuses the TLS session.
        using var otherCa = new TestCa("Impostor CA");
        using var impostorCertificate = otherCa.IssueServer();
        await using var impostor = new TlsSyslogReceiver(impostorCertificate);
        await fixture.Send(Syslog(impostor.Port, SyslogTransport.TcpTls, ca.RootPem));
        var refused = await Should.ThrowAsync<ConflictException>(() => fixture.Send(new SendTestNotification(NotificationChannel.Syslog)));
        refused.Message.ShouldContain("not delivered");
        impostor.Messages.Reader.TryRead(out _).ShouldBeFalse();
    }

    [Fact]
    public async Task A_test_email_goes_through_starttls_with_authentication_and_the_password_is_stored_encrypted()
    {
        using var ca = new TestCa();
        using var certificate = ca.IssueServer();
        await using var sink = await SmtpSink.StartAsync(_folder, certificate, "relay-user", "relay-secret-123");
        await fixture.Send(Email(sink.Port, ca.RootPem, "relay-user", "relay-secret-123"));
        await fixture.Send(new SendTestNotification(NotificationChannel.Email));

        var mail = JsonDocument.Parse(await sink.ReceiveAsync(Wait)).RootElement;
        mail.GetProperty("tls").GetBoolean().ShouldBeTrue();
        mail.GetProperty("user").GetString().ShouldBe("relay-user");
        mail.GetProperty("to").EnumerateArray().Select(t => t.GetString()).ShouldBe(["ops@example.com", "oncall@example.com"]);
        var data = mail.GetProperty("data").GetString()!;
        data.ShouldContain("Subject: SSM On-Prem test-node: Test notification");
        data.ShouldContain("What to do:");

        await using var session = fixture.Query();
        var stored = await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId);
        stored!.SmtpPasswordProtected.ShouldNotBeEmpty();
        stored.SmtpPasswordProtected.ShouldNotContain("relay-secret");
        (await fixture.Send(new GetNotificationSettings())).SmtpPasswordSet.ShouldBeTrue();

        // A wrong password: the relay refuses, and the button says so.
        await fixture.Send(Email(sink.Port, ca.RootPem, "relay-user", "not-the-secret"));
        (await Should.ThrowAsync<ConflictException>(() => fixture.Send(new SendTestNotification(NotificationChannel.Email)))).Message.ShouldContain("not delivered");
    }

    [Fact]
    public async Task Settings_outside_the_rules_are_refused_and_viewers_may_not_read_or_send()
    {
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(Syslog(0, SyslogTransport.Udp)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(Syslog(514, SyslogTransport.TcpTls, "not a certificate")));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(Email(587, "", "", null) with { EmailTo = ["not an address"] }));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(Email(587, "", "", null) with { SmtpHost = "" }));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("vera", CurrentUser.ViewerRole, new GetNotificationSettings()));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("vera", CurrentUser.ViewerRole, new SendTestNotification(NotificationChannel.Syslog)));
        await using var session = fixture.Query();
        (await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId)).ShouldBeNull();
    }

    [Fact]
    public async Task A_failover_notifies_and_a_receiver_that_is_down_delays_it_without_blocking_anything()
    {
        NotificationSender.FirstRetry = TimeSpan.FromMilliseconds(200);
        var sender = ActivatorUtilities.CreateInstance<NotificationSender>(fixture.Services);
        await sender.StartAsync(CancellationToken.None);
        try
        {
            using var ca = new TestCa();
            using var certificate = ca.IssueServer();
            var port = PostgresServer.FreePort(); // nobody listens here yet: the receiver is down
            await fixture.Send(Syslog(port, SyslogTransport.TcpTls, ca.RootPem));
            await fixture.SendAs(CurrentUser.Node, new DispatchNotifications()); // the dispatcher's first look

            await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
            {
                session.Store(Ssm.Domain.Events.EventLogEntry.Record(DateTimeOffset.UtcNow, "secondary", EventCategory.Cluster, "Failover", "secondary", EventOutcome.Success,
                    "crash: primary → secondary, epoch 3, 900 ms"));
                await session.SaveChangesAsync();
            }
            var clock = Stopwatch.StartNew();
            (await fixture.SendAs(CurrentUser.Node, new DispatchNotifications())).ShouldBe(1);
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5)); // queued, not sent: the receiver being down costs nothing here

            await Task.Delay(TimeSpan.FromSeconds(1)); // a few failed attempts; this wait only lets them happen
            await using var receiver = new TlsSyslogReceiver(certificate, port);
            var match = Rfc5424.Match(await receiver.ReceiveAsync(Wait));
            match.Success.ShouldBeTrue();
            match.Groups["event"].Value.ShouldBe("Failover");
            match.Groups["host"].Value.ShouldBe("secondary");
            match.Groups["msg"].Value.ShouldContain("secondary became the active node");
            match.Groups["msg"].Value.ShouldContain("What to do: Find out why");
        }
        finally
        {
            await sender.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void A_full_queue_gives_way_to_new_notifications_and_counts_what_it_dropped()
    {
        var queue = new NotificationQueue();
        var at = DateTimeOffset.UtcNow;
        for (var i = 0; i < NotificationQueue.Capacity + 7; i++)
            queue.Enqueue(NotificationChannel.Email, new Notification($"e{i}", NotificationSeverity.Notice, "x", "n", "y", at));
        queue.Count(NotificationChannel.Email).ShouldBe(NotificationQueue.Capacity);
        queue.Dropped.ShouldBe(7);
        queue.Reader(NotificationChannel.Email).TryRead(out var oldest).ShouldBeTrue();
        oldest!.Event.ShouldBe("e7");
        queue.Count(NotificationChannel.Syslog).ShouldBe(0);
    }
}
