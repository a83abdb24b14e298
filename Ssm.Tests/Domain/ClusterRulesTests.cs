using Ssm.Application.Ha;
using Ssm.Domain.Nodes;

namespace Ssm.Tests.Domain;

/// <summary>
/// Single decisions of the cluster rules, one guard of docs/cluster-states.md at a time, with no process, database or
/// clock: each case states what the node knows and sees, and what it must decide.
/// </summary>
public sealed class ClusterRulesTests
{
    private static readonly HaOptions Ha = new(); // heartbeat 200 ms, failover 1 s: fence after 0.6 s, database fence after 2.6 s

    private static NodeFacts Node(NodeState state, long epoch = 5, NodeRole lastRole = NodeRole.Standby, bool witness = true,
        ReplicationMode mode = ReplicationMode.Sync, bool syncRecorded = true, NodeIntent intent = NodeIntent.Member) =>
        new("b", state, epoch, intent, lastRole, "a", witness, mode, syncRecorded);

    private static PeerHello Peer(NodeState state, long epoch = 5, bool databaseOk = true, string reason = "") =>
        new("a", NodeStates.RoleOf(state), epoch, "127.0.0.11", 15432, "0/3000000", reason, databaseOk, ReplicationMode.Sync, state);

    private static LeaseState Lease(long epoch, string holder, bool expired, string? syncStandby = "b") =>
        new(epoch, holder, expired, expired ? 0 : 800, syncStandby);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    // ---------------------------------------------------------------- G4, G5: the watchdog

    [Fact]
    public void G4_an_active_that_lost_both_the_peer_and_the_witness_fences_before_its_lease_can_expire()
    {
        var fence = ClusterRules.OnWatchdog(Node(NodeState.Active), sinceRenewal: Ms(650), peerAge: Ms(700), databaseSilent: Ms(100), databaseStopped: false, Ha);
        fence.ShouldNotBeNull().LastRole.ShouldBe(NodeRole.Active); // it still has the newest data
        fence.Reason.ShouldContain("lost both the peer");
        fence.HandBackLease.ShouldBeFalse(); // the witness does not answer it anyway
    }

    [Theory]
    [InlineData(650, 100)]  // the peer still answers
    [InlineData(100, 700)]  // the witness still renews
    [InlineData(600, 600)]  // exactly at the limit: not yet
    public void G4_an_active_that_still_hears_the_peer_or_the_witness_keeps_writing(double sinceRenewal, double peerAge) =>
        ClusterRules.OnWatchdog(Node(NodeState.Active), Ms(sinceRenewal), Ms(peerAge), Ms(100), false, Ha).ShouldBeNull();

    [Fact]
    public void G4_a_peer_never_heard_counts_as_lost() =>
        ClusterRules.OnWatchdog(Node(NodeState.Active), Ms(650), peerAge: null, Ms(100), false, Ha).ShouldNotBeNull();

    [Fact]
    public void G5_an_active_whose_own_database_is_silent_fences_itself()
    {
        var fence = ClusterRules.OnWatchdog(Node(NodeState.Active), Ms(100), Ms(100), databaseSilent: Ms(2700), databaseStopped: false, Ha);
        fence.ShouldNotBeNull().Reason.ShouldContain("its own database has not answered");
        fence.HandBackLease.ShouldBeTrue(); // the standby need not wait for the lease to run out
        ClusterRules.OnWatchdog(Node(NodeState.Active), Ms(100), Ms(100), databaseSilent: Ms(2500), databaseStopped: false, Ha).ShouldBeNull();
    }

    [Theory]
    [InlineData(450, true, true)]    // stopped by a signal or killed, and silent for two heartbeats: lost on that evidence
    [InlineData(350, true, false)]   // one late answer is not enough, stopped or not
    [InlineData(2500, false, false)] // merely slow (load): it gets the whole database timeout
    public void G5_a_silent_database_whose_server_is_stopped_is_lost_without_waiting_for_the_timeout(double silent, bool stopped, bool fenced)
    {
        var fence = ClusterRules.OnWatchdog(Node(NodeState.Active), Ms(100), Ms(100), databaseSilent: Ms(silent), databaseStopped: stopped, Ha);
        (fence is not null).ShouldBe(fenced);
        if (fence is not null)
        {
            fence.Reason.ShouldContain("stopped by a signal or gone");
            fence.HandBackLease.ShouldBeTrue();
        }
    }

    [Theory]
    [InlineData(NodeState.Standby, true)]
    [InlineData(NodeState.Fenced, true)]
    [InlineData(NodeState.Active, false)] // without a witness nobody can take its lease, so isolation alone proves nothing
    public void The_watchdog_judges_only_an_active_with_a_witness(NodeState state, bool witness) =>
        ClusterRules.OnWatchdog(Node(state, witness: witness), Ms(5000), Ms(5000), Ms(5000), true, Ha).ShouldBeNull();

    // ---------------------------------------------------------------- G6: a newer epoch

    [Fact]
    public void G6_an_active_that_hears_a_newer_epoch_steps_down_as_the_one_behind()
    {
        var fence = ClusterRules.OnPeerEpoch(Node(NodeState.Active, epoch: 5), Peer(NodeState.Active, epoch: 6));
        fence.ShouldNotBeNull().LastRole.ShouldBe(NodeRole.Standby);
        ClusterRules.OnPeerEpoch(Node(NodeState.Active, epoch: 5), Peer(NodeState.Standby, epoch: 5)).ShouldBeNull();
        ClusterRules.OnPeerEpoch(Node(NodeState.Standby, epoch: 5), Peer(NodeState.Active, epoch: 6)).ShouldBeNull();
    }

    [Fact]
    public void G6_a_renewal_refused_because_another_node_holds_a_newer_epoch_fences()
    {
        ClusterRules.OnLeaseAnswer(Node(NodeState.Active), renewed: false, Lease(6, "a", expired: false))
            .ShouldNotBeNull().LastRole.ShouldBe(NodeRole.Standby);
        ClusterRules.OnLeaseAnswer(Node(NodeState.Active), renewed: false, Lease(5, "b", expired: true)).ShouldBeNull();
        // An unanswered renewal is the watchdog's to judge, over FenceAfter.
        ClusterRules.OnLeaseAnswer(Node(NodeState.Active), renewed: null, Lease(6, "a", expired: false)).ShouldBeNull();
        // A newer epoch this node holds is its own ha_teardown's, answered after the renewal (simulator, seed 7397).
        ClusterRules.OnLeaseAnswer(Node(NodeState.Active), renewed: false, Lease(6, "b", expired: false)).ShouldBeNull();
    }

    // ---------------------------------------------------------------- G11: activation needs a positive renewal

    [Fact]
    public void G11_activation_goes_on_only_after_the_witness_renewed_the_lease()
    {
        ClusterRules.OnActivationLease(Node(NodeState.Joining), renewed: true, null).ShouldBeNull();
        ClusterRules.OnActivationLease(Node(NodeState.Joining, witness: false), renewed: null, null).ShouldBeNull();
    }

    [Fact]
    public void G11_an_unanswered_witness_fences_but_leaves_the_node_the_last_active()
    {
        var fence = ClusterRules.OnActivationLease(Node(NodeState.Joining), renewed: null, Lease(5, "b", expired: false));
        fence.ShouldNotBeNull().LastRole.ShouldBe(NodeRole.Active);
        fence.Reason.ShouldContain("did not confirm");
    }

    [Fact]
    public void G11_a_lease_taken_by_the_other_node_meanwhile_makes_this_one_follow_it() =>
        ClusterRules.OnActivationLease(Node(NodeState.Joining), renewed: false, Lease(6, "a", expired: false))
            .ShouldNotBeNull().LastRole.ShouldBe(NodeRole.Standby);

    // ---------------------------------------------------------------- G2: a standby taking over after a crash

    [Fact]
    public void G2_a_standby_whose_active_is_silent_for_a_failover_timeout_asks_the_witness()
    {
        var step = ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Active), Ms(1100), false, Lease(5, "a", expired: true), true, Ha);
        step.ShouldBe(new StandbyStep(PeerLost: true, NeedsOperator: false, TryTakeOver: true, AlreadyGranted: false));
    }

    [Fact]
    public void G2_a_peer_whose_host_refuses_its_PostgreSQL_port_has_no_writer_left_and_the_witness_need_not_wait_for_the_lease()
    {
        var step = ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Active), Ms(150), peerDatabaseRefuses: true, Lease(5, "a", false), true, Ha);
        step.ShouldBe(new StandbyStep(PeerLost: true, NeedsOperator: false, TryTakeOver: true, AlreadyGranted: false, WriterGone: true));
        // The evidence alone never lets a standby without the witness's word take over.
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Active), Ms(150), true, null, witnessReachable: false, Ha)
            .TryTakeOver.ShouldBeFalse();
    }

    [Fact]
    public void G2_a_peer_handing_over_stopped_its_database_on_purpose_so_a_refusal_there_is_no_evidence()
    {
        var step = ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.HandingOver), Ms(150), peerDatabaseRefuses: true, Lease(5, "a", false), true, Ha);
        step.ShouldBe(new StandbyStep(PeerLost: false, NeedsOperator: false, TryTakeOver: false, AlreadyGranted: false));
    }

    [Fact]
    public void G2_a_peer_rejoining_after_a_restart_may_resume_at_its_own_epoch_so_only_its_lease_running_out_counts()
    {
        // Restarted, deciding how to come back: its database is down, and it may renew its lease and start it any moment.
        var step = ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Joining), Ms(150), peerDatabaseRefuses: true, Lease(5, "a", false), true, Ha);
        step.ShouldBe(new StandbyStep(PeerLost: true, NeedsOperator: false, TryTakeOver: true, AlreadyGranted: false, WriterGone: false));
        // Never heard since this standby started: nothing says a writer was there to be gone.
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), null, null, peerDatabaseRefuses: true, Lease(5, "a", false), true, Ha)
            .WriterGone.ShouldBeFalse();
    }

    [Theory]
    [InlineData(null, 400)] // never heard: two heartbeats
    [InlineData(100.0, 400)]
    [InlineData(800.0, 200)] // ends when the peer would be judged lost
    [InlineData(980.0, 100)] // but leaves it half a heartbeat to answer
    [InlineData(5000.0, 100)]
    public void G2_a_heartbeat_waits_no_longer_than_until_its_peer_would_be_judged_lost(double? peerAge, double deadline) =>
        ClusterRules.HeartbeatDeadline(peerAge is { } age ? Ms(age) : null, Ha).ShouldBe(Ms(deadline));

    [Fact]
    public void G2_a_standby_that_hears_its_active_does_nothing() =>
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Active), Ms(300), false, Lease(5, "a", false), true, Ha).TryTakeOver.ShouldBeFalse();

    [Fact]
    public void G2_an_active_that_says_its_database_is_gone_is_lost_at_once() =>
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Active, databaseOk: false), Ms(100), false, null, true, Ha)
            .TryTakeOver.ShouldBeTrue();

    [Fact]
    public void G2_a_peer_handing_over_is_not_lost_but_a_fenced_one_is()
    {
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.HandingOver), Ms(100), false, null, true, Ha).PeerLost.ShouldBeFalse();
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Fenced), Ms(100), false, null, true, Ha).PeerLost.ShouldBeTrue();
        // A peer of an older version says so in words only.
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Unknown, reason: "handing over"), Ms(100), false, null, true, Ha)
            .PeerLost.ShouldBeFalse();
    }

    [Fact]
    public void G2_without_the_witness_answering_the_standby_never_takes_over()
    {
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), null, null, false, null, witnessReachable: false, Ha).TryTakeOver.ShouldBeFalse();
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), null, null, false, null, witnessReachable: null, Ha).TryTakeOver.ShouldBeFalse();
    }

    [Fact]
    public void G3_without_a_witness_a_lost_active_needs_the_operator() =>
        ClusterRules.OnStandbyTick(Node(NodeState.Standby, witness: false), null, null, false, null, null, Ha)
            .ShouldBe(new StandbyStep(PeerLost: true, NeedsOperator: true, TryTakeOver: false, AlreadyGranted: false));

    [Fact]
    public void G1_a_lease_already_transferred_to_this_standby_needs_no_second_compare_and_set() =>
        ClusterRules.OnStandbyTick(Node(NodeState.Standby), Peer(NodeState.Fenced), Ms(100), false, Lease(6, "b", false), true, Ha)
            .AlreadyGranted.ShouldBeTrue();

    [Fact]
    public void An_expired_lease_naming_another_sync_standby_leaves_the_choice_to_the_operator()
    {
        ClusterRules.TakeoverRefusedNeedsOperator(Node(NodeState.Standby), Lease(5, "a", expired: true, syncStandby: null)).ShouldBeTrue();
        ClusterRules.TakeoverRefusedNeedsOperator(Node(NodeState.Standby), Lease(5, "a", expired: false, syncStandby: null)).ShouldBeFalse();
        ClusterRules.TakeoverRefusedNeedsOperator(Node(NodeState.Standby), Lease(5, "a", expired: true, syncStandby: "b")).ShouldBeFalse();
    }

    [Fact]
    public void A_standby_whose_database_is_gone_for_a_failover_timeout_rejoins()
    {
        ClusterRules.StandbyDatabaseLost(running: false, Ms(1100), Ha).ShouldBeTrue();
        ClusterRules.StandbyDatabaseLost(running: false, Ms(900), Ha).ShouldBeFalse();
        ClusterRules.StandbyDatabaseLost(running: true, Ms(5000), Ha).ShouldBeFalse();
    }

    // ---------------------------------------------------------------- replication mode of the active

    [Theory]
    [InlineData(true, ReplicationMode.Async, true, ActiveStep.TurnSync)]
    [InlineData(true, ReplicationMode.Sync, false, ActiveStep.TurnSync)]   // sync, but not yet named at the witness
    [InlineData(true, ReplicationMode.Sync, true, ActiveStep.None)]
    [InlineData(false, ReplicationMode.Sync, true, ActiveStep.ConsiderDegrade)]
    [InlineData(false, ReplicationMode.None, false, ActiveStep.MarkAsync)]
    [InlineData(false, ReplicationMode.Async, false, ActiveStep.None)]
    public void The_active_turns_sync_when_its_standby_streams_and_considers_degrading_when_it_does_not(
        bool streaming, ReplicationMode mode, bool recorded, ActiveStep expected) =>
        ClusterRules.OnActiveTick(Node(NodeState.Active, mode: mode, syncRecorded: recorded), streaming, witnessReachable: true).ShouldBe(expected);

    [Fact]
    public void The_active_never_degrades_without_the_witness_answering() =>
        ClusterRules.OnActiveTick(Node(NodeState.Active), standbyStreaming: false, witnessReachable: false).ShouldBe(ActiveStep.None);

    [Fact]
    public void The_standby_is_gone_only_when_the_witness_has_not_seen_it_for_a_failover_timeout()
    {
        ClusterRules.StandbyGone(Ms(1100), Ha).ShouldBeTrue();
        ClusterRules.StandbyGone(null, Ha).ShouldBeTrue();
        ClusterRules.StandbyGone(Ms(300), Ha).ShouldBeFalse();
    }

    // ---------------------------------------------------------------- G7-G10: a member coming back

    [Fact]
    public void G7_a_member_follows_an_active_peer_whose_epoch_is_not_older()
    {
        ClusterRules.OnJoin(Node(NodeState.Joining), Peer(NodeState.Active, epoch: 6), null, false).ShouldBeOfType<JoinPlan.Follow>();
        var refused = ClusterRules.OnJoin(Node(NodeState.Joining), Peer(NodeState.Active, epoch: 4), null, false).ShouldBeOfType<JoinPlan.Wait>();
        refused.State.ShouldBe(NodeState.WaitingForPeer);
        refused.Reason.ShouldContain("older than this node's 5");
    }

    [Fact]
    public void A_peer_with_a_newer_epoch_that_is_not_active_yet_must_start_first() =>
        ClusterRules.OnJoin(Node(NodeState.Joining, lastRole: NodeRole.Active), Peer(NodeState.Fenced, epoch: 6), Lease(6, "a", true), false)
            .ShouldBeOfType<JoinPlan.Wait>().StopDatabase.ShouldBeTrue();

    [Fact]
    public void G9_a_lease_won_and_never_taken_up_is_finished() =>
        ClusterRules.OnJoin(Node(NodeState.Joining), null, Lease(6, "b", expired: false), false)
            .ShouldBe(new JoinPlan.FinishTakeover(6));

    [Fact]
    public void G10_a_member_that_was_not_the_last_active_may_only_take_over_through_the_witness()
    {
        var plan = ClusterRules.OnJoin(Node(NodeState.Joining, lastRole: NodeRole.Standby), null, Lease(5, "a", expired: true), false)
            .ShouldBeOfType<JoinPlan.TakeOver>();
        plan.Otherwise.State.ShouldBe(NodeState.WaitingForPeer);
        plan.Otherwise.StopDatabase.ShouldBeTrue();
        plan.Otherwise.KeepTrying.ShouldBeTrue();

        ClusterRules.OnJoin(Node(NodeState.Joining, lastRole: NodeRole.Standby, witness: false), null, null, true)
            .ShouldBeOfType<JoinPlan.Wait>().State.ShouldBe(NodeState.WaitingForPeer);
    }

    [Fact]
    public void G8_the_last_active_resumes_only_with_its_own_or_an_expired_lease_at_its_epoch()
    {
        var last = Node(NodeState.Joining, lastRole: NodeRole.Active);
        ClusterRules.OnJoin(last, null, Lease(5, "b", expired: false), false).ShouldBe(new JoinPlan.Resume(RenewLease: true));
        ClusterRules.OnJoin(last, null, Lease(5, "a", expired: true), false).ShouldBe(new JoinPlan.Resume(RenewLease: true));
        ClusterRules.OnJoin(last, null, Lease(5, "a", expired: false), false).ShouldBeOfType<JoinPlan.Wait>().State.ShouldBe(NodeState.WaitingForPeer);
        ClusterRules.OnJoin(last, null, Lease(7, "a", expired: true), false).ShouldBeOfType<JoinPlan.Wait>().StopDatabase.ShouldBeTrue();
        ClusterRules.OnJoin(last, null, lease: null, false).ShouldBeOfType<JoinPlan.Wait>().State.ShouldBe(NodeState.WaitingForWitness);
    }

    [Fact]
    public void Without_a_witness_the_last_active_resumes_only_when_its_peer_answers_not_active()
    {
        var last = Node(NodeState.Joining, lastRole: NodeRole.Active, witness: false);
        ClusterRules.OnJoin(last, Peer(NodeState.Standby), null, false).ShouldBe(new JoinPlan.Resume(RenewLease: false));
        ClusterRules.OnJoin(last, null, null, operatorAsked: false).ShouldBeOfType<JoinPlan.Wait>().State.ShouldBe(NodeState.WaitingForOperator);
        ClusterRules.OnJoin(last, null, null, operatorAsked: true).ShouldBeOfType<JoinPlan.Wait>().Reason.ShouldContain("ha_takeover");
    }

    [Fact]
    public void A_stopped_member_retries_its_join_once_a_second_unless_stopped_by_the_operator_or_fencing()
    {
        ClusterRules.ShouldRetryJoin(Node(NodeState.WaitingForPeer), fencing: false, sinceLastAttempt: null).ShouldBeTrue();
        ClusterRules.ShouldRetryJoin(Node(NodeState.WaitingForPeer), false, Ms(1100)).ShouldBeTrue();
        ClusterRules.ShouldRetryJoin(Node(NodeState.WaitingForPeer), false, Ms(500)).ShouldBeFalse();
        ClusterRules.ShouldRetryJoin(Node(NodeState.Fenced), fencing: true, null).ShouldBeFalse();
        ClusterRules.ShouldRetryJoin(Node(NodeState.StoppedByOperator, intent: NodeIntent.Stopped), false, null).ShouldBeFalse();
        ClusterRules.ShouldRetryJoin(Node(NodeState.Standby), false, null).ShouldBeFalse();
    }

    // ---------------------------------------------------------------- G1: a planned handover, on the standby

    [Fact]
    public void G1_only_a_standby_at_the_handover_epoch_or_older_promotes_and_a_retry_gets_the_same_answer()
    {
        var request = new HandoverRequest("a", 5, "0/3000000", "planned handover");
        ClusterRules.OnHandoverRequest(Node(NodeState.Standby), request).ShouldBe(HandoverAnswer.Proceed);
        ClusterRules.OnHandoverRequest(Node(NodeState.Active, epoch: 6), request).ShouldBe(HandoverAnswer.AlreadyDone);
        Should.Throw<WrongStateException>(() => ClusterRules.OnHandoverRequest(Node(NodeState.Fenced), request)).Message.ShouldContain("not a standby");
        Should.Throw<WrongStateException>(() => ClusterRules.OnHandoverRequest(Node(NodeState.Standby, epoch: 6), request)).Message.ShouldContain("older");
        ClusterRules.LeaseTransferredToMe(Node(NodeState.Standby), Lease(6, "b", false)).ShouldBeTrue();
        ClusterRules.LeaseTransferredToMe(Node(NodeState.Standby), Lease(6, "a", false)).ShouldBeFalse();
    }

    // ---------------------------------------------------------------- operator verbs refused in the wrong state

    [Fact]
    public void Operator_verbs_in_the_wrong_state_are_refused_with_the_reason()
    {
        Should.Throw<WrongStateException>(() => ClusterRules.OnTeardown(Node(NodeState.Standby))).Message.ShouldContain("runs on the active");
        Should.Throw<WrongStateException>(() => ClusterRules.OnTakeover(Node(NodeState.Active), null)).Message.ShouldContain("runs on the standby");
        Should.Throw<WrongStateException>(() => ClusterRules.OnTakeover(Node(NodeState.Standby), Peer(NodeState.Active)))
            .Message.ShouldContain("use ha_cluster_stop");
        Should.Throw<WrongStateException>(() => ClusterRules.OnClusterStop(Node(NodeState.Fenced), "fenced")).Message.ShouldContain("already stopped");
        Should.Throw<WrongStateException>(() => ClusterRules.OnClusterStart(Node(NodeState.Standby), "")).Message.ShouldContain("already run");
        Should.Throw<WrongStateException>(() => ClusterRules.OnClusterStart(Node(NodeState.Discarded, intent: NodeIntent.Discarded), "discarded by x"))
            .Message.ShouldContain("discarded by x");
        Should.Throw<WrongStateException>(() => ClusterRules.OnDeploy(Node(NodeState.Standalone), deployed: false, managesDatabase: false))
            .Message.ShouldContain("--manage-db");
        ClusterRules.OnClusterStop(Node(NodeState.Active), "").ShouldBeTrue();
        ClusterRules.OnClusterStop(Node(NodeState.Standby), "").ShouldBeFalse();
    }
}
