using Ssm.Application.Ha;
using Ssm.Application.Notifications;
using Ssm.Application.Sync;
using Ssm.Domain.Events;
using Ssm.Domain.Nodes;

namespace Ssm.Tests.Domain;

public sealed class NotificationRulesTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 4, 4, 0, 0, TimeSpan.Zero);

    private static HaStatus Healthy(NodeRole role = NodeRole.Active) => new()
    {
        Deployed = true,
        Self = new HaNodeView("primary", "primary", "127.0.0.11", role, ""),
        Peer = new HaNodeView("secondary", "secondary", "127.0.0.9", NodeRole.Standby, ""),
        Heartbeat = new HeartbeatStatus(true, 120),
        Vip = new VipStatus("127.0.0.14", "loopback", "primary"),
        Replication = new ReplicationStatus(ReplicationMode.Sync, "primary", "secondary", 0, 0, 2),
        Witness = new WitnessStatus(true, true, "primary"),
    };

    [Fact]
    public void A_lost_standby_async_replication_and_an_unreachable_witness_each_notify_once_from_the_active()
    {
        var before = Healthy();
        var after = before with
        {
            Heartbeat = new HeartbeatStatus(false, 5000),
            Replication = before.Replication with { Mode = ReplicationMode.Async },
            Witness = new WitnessStatus(true, false, null),
        };
        var notes = NotificationRules.FromStatus(before, after, At).ToList();
        notes.Select(n => n.Event).ShouldBe(["StandbyLost", "ReplicationAsync", "WitnessUnreachable"]);
        notes.ShouldAllBe(n => n.Node == "primary" && n.Action.Length > 20);
        notes[0].What.ShouldContain("secondary");

        NotificationRules.FromStatus(after, after, At).ShouldBeEmpty();           // no change, no repeat
        NotificationRules.FromStatus(null, after, At).ShouldBeEmpty();            // the first look has nothing to compare
        NotificationRules.FromStatus(Healthy(NodeRole.Standby), after with { Self = after.Self with { Role = NodeRole.Standby } }, At).ShouldBeEmpty();
    }

    [Fact]
    public void Failovers_and_failed_synchronizations_notify_and_other_entries_do_not()
    {
        var failover = EventLogEntry.Record(At, "secondary", EventCategory.Cluster, "Failover", "secondary", EventOutcome.Success, "crash: primary → secondary");
        var note = NotificationRules.FromEvent(failover).ShouldNotBeNull();
        note.Node.ShouldBe("secondary");
        note.Action.ShouldContain("ha_cluster_start");

        var sync = EventLogEntry.Record(At, "node", EventCategory.Sync, "Synchronize", "all accounts", EventOutcome.Failure, "CSC unreachable");
        NotificationRules.FromEvent(sync).ShouldNotBeNull().Event.ShouldBe("SyncFailed");
        NotificationRules.FromEvent(EventLogEntry.Record(At, "alice", EventCategory.Accounts, "CreateAccount", "Lab", EventOutcome.Success)).ShouldBeNull();
        NotificationRules.FromEvent(EventLogEntry.Record(At, "node", EventCategory.Sync, "Synchronize", "all", EventOutcome.Success)).ShouldBeNull();
    }

    [Fact]
    public void Expired_and_expiring_csc_tokens_notify_and_a_failed_run_is_left_to_its_event()
    {
        NotificationRules.FromAlert(new SyncAlert(AlertSeverity.Major, "Lab", "The CSC access token of 'Lab' expired on 2026-12-01", At, null), "primary", At)
            .ShouldNotBeNull().Event.ShouldBe("CscTokenExpired");
        NotificationRules.FromAlert(new SyncAlert(AlertSeverity.Minor, "Lab", "The CSC access token of 'Lab' expires on 2026-12-10", At, null), "primary", At)
            .ShouldNotBeNull().Event.ShouldBe("CscTokenExpiring");
        NotificationRules.FromAlert(new SyncAlert(AlertSeverity.Major, "Synchronization", "The last synchronization failed", At, null), "primary", At).ShouldBeNull();
    }
}
