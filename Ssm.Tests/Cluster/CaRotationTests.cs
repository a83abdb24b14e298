using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Ssm.Application.Ha;
using Ssm.Domain.Nodes;
using Ssm.Infrastructure.Ha;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// The cluster CA rotated in its three steps on a running cluster (decision 0018): no restart, the heartbeat and
/// synchronous replication never drop, and afterwards the old CA opens nothing.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class CaRotationTests : IAsyncLifetime
{
    private TestCluster _cluster = default!;

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_rotation");

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    private int Applied(string node) => Regex.Matches(_cluster.Log(node), "Cluster keys changed").Count;

    /// <summary>Both nodes applied the step; meanwhile the primary never saw its peer disconnected or replication degrade.</summary>
    private async Task StepAsync(int step, Action change)
    {
        await StepAsync(step, () =>
        {
            change();
            return Task.CompletedTask;
        });
    }

    private async Task StepAsync(int step, Func<Task> change)
    {
        var problems = new List<string>();
        using var stop = new CancellationTokenSource();
        var epoch = (await _cluster.StatusAsync("primary")).Epoch;
        var sampler = Task.Run(async () =>
        {
            // One console client for the whole step: a new certificate and handshake per sample would load the machine.
            using var console = _cluster.Admin("primary");
            while (!stop.IsCancellationRequested)
            {
                var status = (await console.GetFromJsonAsync<HaStatus>("/admin/ha/status", TestCluster.Json))!;
                if (!status.Heartbeat.Connected || status.Replication.Mode != ReplicationMode.Sync || status.Epoch != epoch || status.Self.Role != NodeRole.Active)
                    problems.Add($"step {step}: connected {status.Heartbeat.Connected}, {status.Replication.Mode}, epoch {status.Epoch}, {status.Self.Role}");
                await Task.Delay(100);
            }
        });
        await change();
        // The witness follows each step as the operator does it: ha_witness_init again, and a reload.
        await _cluster.RefreshWitnessAsync();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((Applied("primary") < step || Applied("secondary") < step) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        // A few heartbeats more after both applied it, on the new certificates.
        for (var i = 0; i < 10; i++)
            await _cluster.WaitForAsync("primary", s => s.Heartbeat.Connected);
        await stop.CancelAsync();
        await sampler;
        (Applied("primary"), Applied("secondary")).ShouldBe((step, step), _cluster.Log("primary"));
        problems.ShouldBeEmpty();
    }

    private X509Certificate2 Presented(string node) => X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_cluster.DataOf(node), "tls", "node.crt")));

    [Fact]
    public async Task Rotating_the_cluster_CA_in_three_steps_needs_no_restart_and_keeps_the_cluster_in_sync()
    {
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);
        var old = ClusterCredentials.Load(_cluster.KeysDirectory);
        using var oldConsole = old.IssueConsole();
        var oldIssuer = Presented("primary").Issuer;

        // 1. A second CA, trusted by both; the old one still signs.
        await StepAsync(1, () => ClusterCredentials.Generate(_cluster.KeysDirectory, rotate: true));
        Presented("primary").Issuer.ShouldBe(oldIssuer);

        // 2. The new CA signs: each node issues itself a certificate of it and presents it, nothing restarted.
        await StepAsync(2, () => ClusterCredentials.SwitchToNext(_cluster.KeysDirectory));
        var fresh = ClusterCredentials.Load(_cluster.KeysDirectory);
        foreach (var node in new[] { "primary", "secondary" })
            fresh.Verify(Presented(node), ClusterCredentials.NodeRole, out _).ShouldBeTrue();
        Presented("secondary").Issuer.ShouldNotBe(oldIssuer);
        // New connections use the new certificates: a handover (peer calls, promotion, rewind, streaming).
        (await _cluster.VerbAsync("primary", "cluster-stop")).Status.ShouldBe(HttpStatusCode.OK);
        (await _cluster.VerbAsync("primary", "cluster-start")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);
        (await _cluster.VerbAsync("secondary", "cluster-stop")).Status.ShouldBe(HttpStatusCode.OK);
        (await _cluster.VerbAsync("secondary", "cluster-start")).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Self.Role == NodeRole.Active && s.Replication.Mode == ReplicationMode.Sync && s.Heartbeat.Connected);

        // 3. Only the new CA is trusted: a certificate of the old one opens neither the console API nor PostgreSQL.
        await StepAsync(3, () => fresh.RetireOldAuthorities());
        using (var client = new HttpClient(HttpPeerLink.CreateHandler(fresh, oldConsole, ClusterCredentials.NodeRole)))
            await Should.ThrowAsync<HttpRequestException>(() => client.GetAsync(new Uri(_cluster.PeerUrlOf("primary"), "/admin/ha/status")));
        using var oldNode = old.Issue("secondary", ClusterCredentials.NodeRole, [], ["secondary"], TimeSpan.FromHours(1));
        (await PostgresProbe.TryAsync(IPAddress.Parse(_cluster.PrimaryAddress), _cluster.PgPort, PostgresNode.ReplicationUser, "postgres", true, true, oldNode))
            .Authenticated.ShouldBeFalse();
        using var newNode = X509Certificate2.CreateFromPemFile(Path.Combine(_cluster.DataOf("secondary"), "tls", "node.crt"),
            Path.Combine(_cluster.DataOf("secondary"), "tls", "node.key"));
        (await PostgresProbe.TryAsync(IPAddress.Parse(_cluster.PrimaryAddress), _cluster.PgPort, PostgresNode.ReplicationUser, "postgres", true, true, newNode))
            .Authenticated.ShouldBeTrue();
        (await _cluster.StatusAsync("primary")).Witness.Reachable.ShouldBe(true);
    }
}
