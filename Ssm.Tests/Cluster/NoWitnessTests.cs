using System.Net;
using Ssm.Domain.Nodes;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

[Collection(ClusterCollection.Name)]
public sealed class NoWitnessTests : IAsyncLifetime
{
    private TestCluster _cluster = default!;

    public async ValueTask InitializeAsync() => _cluster = await TestCluster.CreateAsync("ssm_witness_unused", useWitness: false);

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Without_a_witness_a_crashed_active_is_taken_over_only_by_the_operator()
    {
        await _cluster.StartNodeAsync("primary");
        await _cluster.StartNodeAsync("secondary");
        (await _cluster.DeployAsync()).Status.ShouldBe(HttpStatusCode.OK);
        var healthy = await _cluster.WaitForAsync("secondary", s => s.Heartbeat.Connected && s.Self.Role == NodeRole.Standby);
        healthy.Witness.Configured.ShouldBeFalse();

        await _cluster.CrashAsync("primary");

        // The standby sees the active gone, says so, and waits for the operator.
        var waiting = await _cluster.WaitForAsync("secondary", s => s.TakeoverNeedsOperator);
        waiting.Self.Role.ShouldBe(NodeRole.Standby);
        // Twice the failover timeout by the standby's own clock: a witness-backed standby would have taken over by then.
        var later = await _cluster.WaitForAsync("secondary", s => s.Heartbeat.AgeMs > 2 * _cluster.FailoverTimeoutMs || s.Self.Role != NodeRole.Standby);
        later.Self.Role.ShouldBe(NodeRole.Standby);

        var takeover = await _cluster.VerbAsync("secondary", "takeover");
        takeover.Status.ShouldBe(HttpStatusCode.OK, takeover.Body);
        var active = await _cluster.WaitForAsync("secondary", s => s.Self.Role == NodeRole.Active && s.Vip.Holder == "secondary" && s.LastFailover is not null);
        active.TakeoverNeedsOperator.ShouldBeFalse();
        active.LastFailover!.Cause.ShouldContain("operator takeover");
        using var client = await _cluster.SignedInThroughVipAsync();
        (await client.GetAsync("/api/accounts")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
