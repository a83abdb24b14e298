using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ssm.Domain.Nodes;
using Ssm.Tests.Features.Notifications;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// Issue 15's "done when": a real two-node cluster with a witness, notifications set through its API, the active node
/// killed — and a syslog line and an e-mail arrive from the new active node, naming the failover and itself.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FailoverNotificationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"ssm-failover-notify-{Guid.NewGuid():N}");
    private TestCluster _cluster = default!;

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_failover_notify");

    public async ValueTask DisposeAsync()
    {
        await _cluster.DisposeAsync();
        if (Directory.Exists(_folder))
            Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task A_crash_failover_sends_a_syslog_line_and_an_email_naming_the_new_active_node()
    {
        using var ca = new TestCa();
        using var certificate = ca.IssueServer();
        await using var smtp = await SmtpSink.StartAsync(_folder, certificate, "relay-user", "relay-secret-123");
        using var syslog = new UdpSyslogReceiver();

        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        var deploy = await _cluster.DeployAsync();
        deploy.Status.ShouldBe(HttpStatusCode.OK, deploy.Body);
        await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected && s.Vip.Holder == "primary");

        // As an operator does it: the Notifications settings through the cluster's address.
        using (var admin = await _cluster.SignedInThroughVipAsync())
        {
            var saved = await admin.PutAsJsonAsync("/api/notifications", new
            {
                syslogEnabled = true, syslogHost = "127.0.0.1", syslogPort = syslog.Port, syslogTransport = "Udp", syslogTrustedCaPem = "",
                emailEnabled = true, smtpHost = "127.0.0.1", smtpPort = smtp.Port, smtpUser = "relay-user", smtpPassword = "relay-secret-123",
                smtpTrustedCaPem = ca.RootPem, emailFrom = "ssm@example.com", emailTo = new[] { "ops@example.com" }, productSilentDays = 7,
            });
            saved.StatusCode.ShouldBe(HttpStatusCode.OK, await saved.Content.ReadAsStringAsync());
        }
        // The settings are on the standby too (synchronous replication) before the active goes.
        await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync);

        var crashedAt = System.Diagnostics.Stopwatch.StartNew();
        await _cluster.CrashAsync("primary");
        var promoted = await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.LastFailover is not null, TimeSpan.FromSeconds(30));
        promoted.LastFailover!.From.ShouldBe("primary");

        // Other notifications may come first (the standby lost, say): the failover's is among them, from the new active.
        var line = await FirstAsync(syslog.ReceiveAsync, l => l.Contains("event=\"Failover\""), "syslog line");
        var syslogAfter = crashedAt.Elapsed;
        line.ShouldContain("node=\"secondary\"");
        line.ShouldContain("Failover: secondary became the active node");
        line.ShouldContain("primary → secondary");
        line.ShouldContain("What to do:");

        var mail = await FirstAsync(async timeout => MimeKit.MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(
                JsonDocument.Parse(await smtp.ReceiveAsync(timeout)).RootElement.GetProperty("data").GetString()!))),
            m => m.Subject?.Contains("Failover") == true, "e-mail");
        output.WriteLine($"after the crash: failover syslog line {syslogAfter.TotalSeconds:0.0} s, e-mail {crashedAt.Elapsed.TotalSeconds:0.0} s");
        var body = mail.TextBody.ShouldNotBeNull();
        mail.Subject.ShouldStartWith("SSM On-Prem secondary: Failover: secondary became the active node");
        body.ShouldContain("Node: secondary");
        body.ShouldContain("What to do:");
    }

    private async Task<T> FirstAsync<T>(Func<TimeSpan, Task<T>> receive, Func<T, bool> wanted, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        var seen = new List<string>();
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"no {what} about the failover; received: {string.Join(" | ", seen)}\n--- secondary ---\n{_cluster.Log("secondary")}");
            try
            {
                var item = await receive(left);
                if (wanted(item))
                    return item;
                seen.Add(item is MimeKit.MimeMessage m ? m.Subject ?? "" : $"{item}");
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
