using Bunit;
using MudBlazor.Services;
using Ssm.Application.Ha;
using Ssm.Domain.Nodes;
using Ssm.Web.Components.Shared;

namespace Ssm.Tests.Components;

public sealed class HaWidgetTests : IAsyncLifetime
{
    private readonly BunitContext _context = new();

    public ValueTask InitializeAsync()
    {
        _context.JSInterop.Mode = JSRuntimeMode.Loose;
        _context.Services.AddMudServices();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();

    private static HaStatus Status(NodeRole primary, NodeRole secondary, string? from, string? to, bool connected,
        ReplicationMode mode = ReplicationMode.Sync, bool witness = true, bool takeover = false, FailoverRecord? last = null)
    {
        var self = new HaNodeView("primary", "primary", "127.0.0.11", primary, primary == NodeRole.Active ? "active, holding VIP 127.0.0.14" : "");
        var peer = new HaNodeView("secondary", "secondary", "127.0.0.9", secondary, "");
        var holder = primary == NodeRole.Active ? "primary" : secondary == NodeRole.Active ? "secondary" : null;
        return new HaStatus
        {
            Deployed = true,
            Self = self,
            Peer = peer,
            Heartbeat = new HeartbeatStatus(connected, AgeMs: connected ? 80 : 4200),
            Vip = new VipStatus("127.0.0.14", "loopback", holder),
            Replication = new ReplicationStatus(mode, from, to, LagBytes: from is null ? null : 0, LagSeconds: from is null ? null : 0.001, Timeline: 3),
            Witness = witness ? new WitnessStatus(true, Reachable: true, LeaseHolder: holder) : WitnessStatus.None,
            Epoch = 7,
            TakeoverNeedsOperator = takeover,
            History = last is null ? [] : [last],
        };
    }

    private IRenderedComponent<HaWidget> Render(HaStatus status) => _context.Render<HaWidget>(p => p.Add(w => w.Status, status));

    [Fact]
    public void A_healthy_cluster_shows_the_primary_active_replicating_to_the_secondary()
    {
        var cut = Render(Status(NodeRole.Active, NodeRole.Standby, "primary", "secondary", connected: true));

        cut.Find("[data-testid=ha-role-primary]").TextContent.ShouldBe("Active");
        cut.Find("[data-testid=ha-role-secondary]").TextContent.ShouldBe("Standby");
        cut.Find("[data-testid=ha-heartbeat]").TextContent.ShouldContain("connected");
        cut.Find("[data-testid=ha-heartbeat]").TextContent.ShouldNotContain("disconnected");
        cut.Find("[data-testid=ha-arrow]").TextContent.ShouldBe("⟶");
        cut.Find("[data-testid=ha-node-primary]").TextContent.ShouldContain("VIP 127.0.0.14");
        cut.Find("[data-testid=ha-replication]").TextContent.ShouldBe("primary → secondary (sync)");
        cut.Find("[data-testid=ha-epoch]").TextContent.ShouldBe("3 / 7");
    }

    [Fact]
    public void After_a_handover_the_secondary_is_active_the_primary_stopped_and_the_heartbeat_disconnected()
    {
        var last = new FailoverRecord(DateTimeOffset.UnixEpoch, "planned handover (ha_cluster_stop)", "primary", "secondary", 8, 312);
        var cut = Render(Status(NodeRole.Stopped, NodeRole.Active, null, null, connected: false, ReplicationMode.Async, last: last));

        cut.Find("[data-testid=ha-role-primary]").TextContent.ShouldBe("Stopped");
        cut.Find("[data-testid=ha-role-secondary]").TextContent.ShouldBe("Active");
        cut.Find("[data-testid=ha-heartbeat]").TextContent.ShouldContain("disconnected");
        cut.Find("[data-testid=ha-arrow]").TextContent.ShouldBe("–");
        cut.Find("[data-testid=ha-node-secondary]").TextContent.ShouldContain("VIP 127.0.0.14");
        cut.Find("[data-testid=ha-last-failover]").TextContent.ShouldContain("primary → secondary · 312 ms");
    }

    [Fact]
    public void When_the_secondary_is_active_the_arrow_points_back_to_the_primary()
    {
        var cut = Render(Status(NodeRole.Standby, NodeRole.Active, "secondary", "primary", connected: true));
        cut.Find("[data-testid=ha-arrow]").TextContent.ShouldBe("⟵");
        cut.Find("[data-testid=ha-replication]").TextContent.ShouldBe("secondary → primary (sync)");
    }

    [Fact]
    public void Without_a_witness_a_lost_active_asks_for_the_operator()
    {
        var cut = Render(Status(NodeRole.Standby, NodeRole.Stopped, null, null, connected: false, witness: false, takeover: true));
        cut.Find("[data-testid=ha-witness]").TextContent.ShouldContain("taken over only by the operator");
        cut.Find("[data-testid=ha-takeover-needed]").TextContent.ShouldContain("ha_takeover");
    }

    [Fact]
    public void A_healthy_cluster_asks_nothing_of_the_operator() =>
        Render(Status(NodeRole.Active, NodeRole.Standby, "primary", "secondary", connected: true))
            .FindAll("[data-testid=ha-takeover-needed]").ShouldBeEmpty();
}
