using System.Net;
using System.Net.Http.Json;
using Ssm.Domain.Nodes;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// A silent failure the heartbeat alone would miss: the active node still answers, but its PostgreSQL is
/// frozen (SIGSTOP). The active fences itself and the standby takes over.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FrozenDatabaseTests : IAsyncLifetime
{
    private TestCluster _cluster = default!;
    // The exact processes frozen, to thaw by their own ids should the test fail before the fence killed them.
    private List<int> _frozen = [];

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_frozen");

    public async ValueTask DisposeAsync()
    {
        await ThawAsync();
        await _cluster.DisposeAsync();
    }

    private async Task FreezeAsync(int postmaster)
    {
        var children = await Shell.RunAsync("sh", ["-c", $"pgrep -P {postmaster} || true"]);
        _frozen = [postmaster, .. children.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
        await Shell.RunAsync("kill", ["-STOP", .. _frozen.Select(p => p.ToString())]);
    }

    private async Task ThawAsync()
    {
        if (_frozen.Count == 0)
            return;
        await Shell.RunAsync("sh", ["-c", $"kill -CONT {string.Join(' ', _frozen)} 2>/dev/null || true"]);
        _frozen = [];
    }

    [Fact]
    public async Task A_frozen_database_under_a_live_active_hands_the_cluster_to_the_standby()
    {
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Heartbeat.Connected && s.Replication.Mode == ReplicationMode.Sync);
        await _cluster.WaitForAsync("secondary", s => s.Replication.Mode == ReplicationMode.Sync);
        using (var client = await _cluster.SignedInThroughVipAsync())
            (await client.PostAsJsonAsync("/api/accounts", new { name = "Before Freeze", description = "", contactEmail = "ops@example.com" }))
                .StatusCode.ShouldBe(HttpStatusCode.Created);

        await FreezeAsync(int.Parse(File.ReadLines(Path.Combine(_cluster.DataOf("primary"), "pg", "postmaster.pid")).First()));

        var promoted = await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary"
            && s.LastFailover is not null, TimeSpan.FromSeconds(20));
        promoted.LastFailover!.From.ShouldBe("primary");
        (await _cluster.StatusAsync("primary")).Self.Role.ShouldNotBe(NodeRole.Active);
        _cluster.Log("primary").ShouldContain("stepped down: its own database has not answered");

        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            (await client.PostAsJsonAsync("/api/accounts", new { name = "After Freeze", description = "", contactEmail = "ops@example.com" }))
                .StatusCode.ShouldBe(HttpStatusCode.Created);
            (await client.GetStringAsync("/api/accounts?search=Freeze")).ShouldContain("Before Freeze");
        }

        // The fence killed the frozen server whole, its stopped backends too: a stopped backend never notices that its
        // postmaster is gone, and the shared memory it holds would keep a new server from starting. So the old active
        // rejoins as standby with nothing thawed.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_frozen.Any(pid => Infrastructure.Ha.PostgresNode.ProcessState(pid) is { } state && state is not ('Z' or 'X')) && DateTime.UtcNow < deadline)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        _frozen.Where(pid => Infrastructure.Ha.PostgresNode.ProcessState(pid) is { } state && state is not ('Z' or 'X')).ShouldBeEmpty();
        await _cluster.WaitForAsync("secondary", s => s.Heartbeat.Connected && s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby,
            TimeSpan.FromSeconds(40));
    }
}
