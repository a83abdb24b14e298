using System.Net;
using System.Net.Http.Json;
using Ssm.Domain.Nodes;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// The standby's own PostgreSQL dies under a live standby node: the active degrades to asynchronous
/// (commits do not hang), and the standby restarts and repairs its database and is synchronous again.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StandbyDatabaseCrashTests : IAsyncLifetime
{
    private TestCluster _cluster = default!;

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_standby_db");

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_standby_whose_database_was_killed_rejoins_by_itself()
    {
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(HttpStatusCode.OK);
        await _cluster.WaitForAsync("primary", s => s.Heartbeat.Connected && s.Replication.Mode == ReplicationMode.Sync);

        var postmaster = int.Parse(File.ReadLines(Path.Combine(_cluster.DataOf("secondary"), "pg", "postmaster.pid")).First());
        await Shell.RunAsync("kill", ["-KILL", postmaster.ToString()]);

        using (var client = await _cluster.SignedInThroughVipAsync())
        {
            var created = await client.PostAsJsonAsync("/api/accounts", new { name = "While Standby Down", description = "", contactEmail = "ops@example.com" },
                TestContext.Current.CancellationToken);
            created.StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        await _cluster.WaitForAsync("primary", s => s.Heartbeat.Connected && s.Replication.Mode == ReplicationMode.Sync && s.Peer!.Role == NodeRole.Standby,
            TimeSpan.FromSeconds(40));
        _cluster.Log("secondary").ShouldContain("This standby's database is down");
        var replication = await _cluster.ReplicationFromAsync("primary");
        replication.ShouldContain(r => r.Name == "secondary" && r.State == "streaming" && r.Sync == "sync");
        (await _cluster.StatusAsync("secondary")).Self.Role.ShouldBe(NodeRole.Standby);
    }
}
