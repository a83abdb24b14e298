using Ssm.Application.Ha;
using Ssm.Domain.Nodes;
using Ssm.Web.Console;

namespace Ssm.Tests.Domain;

/// <summary>What `ssm ha_status` prints, in the spirit of the appliance.</summary>
public sealed class HaStatusRenderingTests
{
    private static readonly HaNodeView Primary = new("primary", "primary", "127.0.0.11", NodeRole.Active, "active, holding VIP 127.0.0.14");
    private static readonly HaNodeView Secondary = new("secondary", "secondary", "127.0.0.9", NodeRole.Standby, "streaming from primary");

    [Fact]
    public void A_standalone_node_says_the_cluster_is_not_running_here()
    {
        var status = new HaStatus
        {
            Deployed = false,
            Self = Primary with { Identity = "standalone", Role = NodeRole.Standalone, Reason = "cluster torn down" },
            Vip = new VipStatus(null, "loopback", null),
            Replication = new ReplicationStatus(ReplicationMode.None, null, null, null, null, Timeline: 3),
            Epoch = 9,
        };
        HaCommands.Render(status).ShouldStartWith("The HA cluster is not running on this node (primary is standalone");
    }

    [Fact]
    public void A_torn_down_node_says_by_whom_when_and_which_node_was_discarded()
    {
        var teardown = new ClusterTeardown("primary", new DateTimeOffset(2026, 12, 3, 21, 0, 0, TimeSpan.Zero), "secondary");
        var status = new HaStatus
        {
            Deployed = false,
            Self = Primary with { Identity = "standalone", Role = NodeRole.Standalone, Reason = teardown.Text },
            Vip = new VipStatus(null, "loopback", null),
            Replication = new ReplicationStatus(ReplicationMode.None, null, null, null, null, Timeline: 3),
            Epoch = 9,
            TornDown = teardown,
        };

        var text = HaCommands.Render(status);

        text.ShouldStartWith("The HA cluster is not running on this node (primary is standalone: cluster torn down by ha_teardown on primary at 2026-12-03 21:00:00Z; secondary discarded).");
        text.ShouldContain("Torn down      by ha_teardown on primary at 2026-12-03 21:00:00Z; primary kept all data");
        text.ShouldContain("Discarded      secondary (it refuses to rejoin)");
        text.ShouldContain("ha_deploy --peer");
    }

    [Fact]
    public void A_running_cluster_shows_nodes_heartbeat_vip_replication_epoch_witness_and_last_failover()
    {
        var failover = new FailoverRecord(DateTimeOffset.UnixEpoch, "crash failover", "secondary", "primary", 9, 1211);
        var status = new HaStatus
        {
            Deployed = true,
            Self = Primary,
            Peer = Secondary,
            Heartbeat = new HeartbeatStatus(Connected: true, AgeMs: 42),
            Vip = new VipStatus("127.0.0.14", "loopback", Holder: "primary"),
            Replication = new ReplicationStatus(ReplicationMode.Sync, From: "primary", To: "secondary", LagBytes: 0, LagSeconds: 0.001, Timeline: 3),
            Witness = new WitnessStatus(Configured: true, Reachable: true, LeaseHolder: "primary"),
            Epoch = 9,
            History = [failover],
        };

        var text = HaCommands.Render(status);

        text.ShouldContain("primary        primary    127.0.0.11       Active");
        text.ShouldContain("secondary      secondary  127.0.0.9        Standby");
        text.ShouldContain("connected (last seen 42 ms ago)");
        text.ShouldContain("127.0.0.14 (loopback), held by primary");
        text.ShouldContain("primary → secondary, sync, lag 0 bytes / 0.001 s, timeline 3");
        text.ShouldContain("Epoch          9");
        text.ShouldContain("reachable, lease held by primary");
        text.ShouldContain("crash failover: secondary → primary in 1211 ms (epoch 9)");
    }
}
