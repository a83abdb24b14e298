using Ssm.Domain.Nodes;

namespace Ssm.Tests.Simulation;

public sealed record SimResult(int Seed, string? Violation, IReadOnlyList<string> Faults, int Acknowledged, int Forgiven, long Steps,
    IReadOnlyList<string> Trace, int EarlyTakeovers = 0, int EarlyTakeoversWhileHolderAlive = 0)
{
    public string Report() =>
        $"seed {Seed}: {Violation ?? "no violation"}\nfaults: {string.Join("; ", Faults)}\n--- trace (last {Trace.Count} lines) ---\n{string.Join("\n", Trace)}";
}

/// <summary>
/// One seeded run: deploy a cluster, write through the VIP, inject faults drawn from the seed for 20 s of virtual
/// time, heal everything, and require an active with every acknowledged write and, when both nodes are members,
/// a streaming standby. The seed alone decides everything, so it replays the run step for step.
/// </summary>
public static class SimRun
{
    private static readonly TimeSpan FaultsFrom = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FaultsUntil = TimeSpan.FromSeconds(17);
    private static readonly TimeSpan HealAt = TimeSpan.FromSeconds(24);
    private static readonly TimeSpan Settling = TimeSpan.FromSeconds(14);
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(12);
    private static readonly TimeSpan Healthy = TimeSpan.FromSeconds(8);

    public static SimResult Run(int seed, int traceLines = 200, SimMutation mutation = SimMutation.None)
    {
        var world = new SimWorld(seed, mutation);
        var faults = new List<string>();
        string? violation = null;
        try
        {
            Play(world, faults);
        }
        catch (SimViolation ex)
        {
            violation = ex.Message;
        }
        catch (Exception ex)
        {
            violation = $"the simulator itself failed: {ex}";
        }
        var trace = world.TraceLines.Skip(Math.Max(0, world.TraceLines.Count - traceLines)).ToList();
        return new SimResult(seed, violation, faults, world.Acknowledged, world.Forgiven, world.Scheduler.Steps, trace,
            world.EarlyTakeovers, world.EarlyTakeoversWhileHolderAlive);
    }

    /// <summary>
    /// A planned handover (ha_cluster_stop on the active) on a network whose messages each take up to
    /// <paramref name="extraDelayMs"/> more: heartbeats come late, and the standby looks at the active's PostgreSQL
    /// port meanwhile. Null when the standby took over as a handover, else what happened instead.
    /// </summary>
    public static (string? Problem, IReadOnlyList<string> Trace) PlannedHandover(int seed, double extraDelayMs)
    {
        var world = new SimWorld(seed);
        var scheduler = world.Scheduler;
        Deploy(world);
        world.StartClient(TimeSpan.FromMilliseconds(50));
        scheduler.RunUntil(TimeSpan.FromSeconds(6));
        string? problem = null;
        if (world.A.Role != NodeRole.Active || world.B.Role != NodeRole.Standby)
            problem = $"the cluster did not form: a {world.A.Role}, b {world.B.Role}";
        else
        {
            world.Network.MaxExtraDelayMs = extraDelayMs;
            world.A.Verb("ha_cluster_stop", s => s.ClusterStopAsync(CancellationToken.None));
            scheduler.RunUntil(TimeSpan.FromSeconds(12));
            var takeovers = world.TraceLines.Where(l => l.Contains("takeover recorded")).ToList();
            if (world.B.Role != NodeRole.Active)
                problem = $"b is {world.B.Role} after the handover ({Reason(world.B)})";
            else if (takeovers is not [var only] || !only.Contains("planned handover"))
                problem = $"b's takeovers: {string.Join(" | ", takeovers)}";
        }
        return (problem, world.TraceLines);
    }

    /// <summary>Both nodes start; a deploys the cluster with b; 4 s of virtual time pass.</summary>
    private static void Deploy(SimWorld world)
    {
        world.A.Start();
        world.B.Start();
        world.Scheduler.RunUntil(TimeSpan.FromSeconds(1));
        world.A.Verb("ha_deploy", s => s.DeployAsync(new Uri("https://b:8444"), "10.0.0.100", CancellationToken.None));
        world.Scheduler.RunUntil(TimeSpan.FromSeconds(4));
    }

    private static void Play(SimWorld world, List<string> faults)
    {
        var scheduler = world.Scheduler;
        var random = scheduler.Random;
        Deploy(world);
        if (world.A.Role != NodeRole.Active || world.B.Role != NodeRole.Standby)
            throw new SimViolation($"deploy did not form the cluster: a {world.A.Role}, b {world.B.Role}");
        world.ClusterFormed = true;
        world.StartClient(TimeSpan.FromMilliseconds(50));

        world.Network.MaxExtraDelayMs = random.Next(4) == 0 ? 30 : 2;
        var count = 1 + random.Next(5);
        var plan = Enumerable.Range(0, count)
            .Select(_ => (At: FaultsFrom + TimeSpan.FromMilliseconds(random.Next((int)(FaultsUntil - FaultsFrom).TotalMilliseconds)), Kind: random.Next(100)))
            .OrderBy(f => f.At).ToList();
        foreach (var (at, kind) in plan)
        {
            scheduler.RunUntil(at);
            faults.Add($"{at.TotalSeconds:0.000} s {Inject(world, kind)}");
        }
        scheduler.RunUntil(HealAt);
        faults.Add($"{HealAt.TotalSeconds:0.000} s heal");
        Heal(world);
        var end = HealAt + Settling;
        if (random.Next(4) == 0)
        {
            // One node's host stays down: the other must serve alone, even if its own process restarts meanwhile.
            var (lost, survivor) = random.Next(2) == 0 ? (world.A, world.B) : (world.B, world.A);
            var restartSurvivor = random.Next(2) == 0;
            // After a healthy while (the cluster in sync again), so that the survivor is entitled to take over.
            var down = HealAt + Healthy;
            Operate(world, HealAt, down);
            faults.Add($"{down.TotalSeconds:0.000} s host {lost.Name} down for {Outage.TotalSeconds:0} s" +
                       (restartSurvivor ? $", kill -9 node {survivor.Name} 2 s later (restarted at once)" : ""));
            // Entitled to write alone: it was the last active, or the witness names it as the standby holding every write.
            // (at the lease's epoch: a node that missed later epochs, a teardown say, is entitled to nothing).
            var saved = survivor.Store.Load();
            var entitled = saved.Epoch == world.Lease.Epoch && (saved.LastRole == NodeRole.Active || world.Lease.SyncStandby == survivor.Name);
            lost.Crash();
            lost.Database.KillServer();
            if (restartSurvivor)
            {
                scheduler.RunUntil(down + TimeSpan.FromSeconds(2));
                survivor.Crash();
                survivor.Start();
            }
            Operate(world, down, down + Outage);
            if (entitled)
                RequireWriting(world, survivor, $"{lost.Name} down for {Outage.TotalSeconds:0} s");
            lost.Start();
            end += Healthy + Outage;
        }
        Operate(world, end - Settling, end);
        CheckLive(world);
    }

    /// <summary>Runs to the end, the operator starting what an operator stopped every 3 s (an operator would).</summary>
    private static void Operate(SimWorld world, TimeSpan from, TimeSpan until)
    {
        for (var at = from + TimeSpan.FromSeconds(1); at < until - TimeSpan.FromSeconds(2); at += TimeSpan.FromSeconds(3))
        {
            world.Scheduler.RunUntil(at);
            foreach (var node in world.Nodes.Where(n => n.Role == NodeRole.Stopped && n.Store.Load().Intent == NodeIntent.Stopped))
                node.Verb("ha_cluster_start", s => s.ClusterStartAsync(CancellationToken.None));
        }
        world.Scheduler.RunUntil(until);
    }

    /// <summary>Liveness with one node down: the survivor and the witness are healthy, so the survivor writes.</summary>
    private static void RequireWriting(SimWorld world, SimNode survivor, string situation)
    {
        if (survivor.Store.Load().Intent != NodeIntent.Member || world.Writer() is not null && world.Writer() != survivor)
            return;
        if (world.Writer() != survivor)
            throw new SimViolation($"{situation}: {survivor.Name} does not write: {survivor.Role} ({Reason(survivor)})");
        var lastAck = world.Acks.Count == 0 ? TimeSpan.Zero : world.Acks[^1].At;
        if (survivor.Supervisor.Role != NodeRole.Standalone && world.Scheduler.Now - lastAck > TimeSpan.FromSeconds(2))
            throw new SimViolation($"{situation}: the client got no acknowledged write since {lastAck.TotalSeconds:0.000} s");
    }

    private static void Heal(SimWorld world)
    {
        world.Network.HealAll();
        world.Network.LossRate = 0;
        world.Network.DuplicateRate = 0;
        world.WitnessUp();
        foreach (var node in world.Nodes)
        {
            node.Database.Slowness = 1;
            node.Database.Server?.Thaw();
            node.Process.Thaw();
            if (!node.Process.Alive)
                node.Start();
        }
    }

    private static void CheckLive(SimWorld world)
    {
        var writer = world.Writer()
            ?? throw new SimViolation($"no active after healing: a {world.A.Role} ({Reason(world.A)}), b {world.B.Role} ({Reason(world.B)})");
        world.CheckNothingLost(writer.Database);
        var other = world.Nodes.Single(n => n != writer);
        var discarded = other.Store.Load().Intent == NodeIntent.Discarded || writer.Supervisor.Role == NodeRole.Standalone;
        if (!discarded && (other.Role != NodeRole.Standby || !other.Database.Connected))
            throw new SimViolation($"{other.Name} is not a streaming standby after healing: {other.Role} ({Reason(other)})");
        var lastAck = world.Acks.Count == 0 ? TimeSpan.Zero : world.Acks[^1].At;
        // A torn-down cluster has no VIP any more: its clients go to the standalone node's own address.
        if (writer.Supervisor.Role != NodeRole.Standalone && world.Scheduler.Now - lastAck > TimeSpan.FromSeconds(2))
            throw new SimViolation($"the client got no acknowledged write since {lastAck.TotalSeconds:0.000} s");
    }

    private static string Reason(SimNode node) => node.Process.Alive ? node.Supervisor.Reason : "process down";

    /// <summary>Draws one fault (0-99 picks the kind) and schedules its end.</summary>
    private static string Inject(SimWorld world, int kind)
    {
        var scheduler = world.Scheduler;
        var random = scheduler.Random;
        var node = random.Next(2) == 0 ? world.A : world.B;
        var other = node == world.A ? world.B : world.A;
        var duration = TimeSpan.FromMilliseconds(300 + random.Next(8000));
        var lasting = $"for {duration.TotalSeconds:0.0} s";
        void Later(Action action) => scheduler.After(scheduler.System, duration, action);
        switch (kind)
        {
            case < 12:
                node.Crash();
                Later(() => { if (!node.Process.Alive) node.Start(); });
                return $"kill -9 node {node.Name}, restarted after {duration.TotalSeconds:0.0} s";
            case < 22:
                node.Crash();
                node.Database.KillServer();
                world.Trace($"{node.Name}: PostgreSQL killed (fault)");
                Later(() => { if (!node.Process.Alive) node.Start(); });
                return $"kill -9 node {node.Name} and its PostgreSQL, restarted after {duration.TotalSeconds:0.0} s";
            case < 30:
                node.Database.KillServer();
                world.Trace($"{node.Name}: PostgreSQL killed (fault)");
                return $"kill -9 PostgreSQL of {node.Name}";
            case < 40:
                node.Process.Freeze();
                world.Trace($"{node.Name}: node process frozen (fault)");
                Later(() => { node.Process.Thaw(); world.Trace($"{node.Name}: node process thawed"); });
                return $"SIGSTOP node {node.Name} {lasting}";
            case < 47:
                if (node.Database.Server is { } server)
                {
                    server.Freeze();
                    world.Trace($"{node.Name}: PostgreSQL frozen (fault)");
                    Later(() => { server.Thaw(); world.Trace($"{node.Name}: PostgreSQL thawed"); });
                }
                return $"SIGSTOP PostgreSQL of {node.Name} {lasting}";
            case < 55:
            {
                // One in three answers with refusals (a firewall's REJECT): each node then has the same "evidence" of the
                // other's death that a crash gives, while both are alive.
                var rejecting = random.Next(3) == 0;
                Action<string, string> cut = rejecting ? world.Network.Reject : world.Network.Cut;
                cut("a", "b");
                cut("b", "a");
                world.Trace($"network: a and b cut apart{(rejecting ? ", refusing" : "")} (fault)");
                Later(() => { world.Network.Heal("a", "b"); world.Network.Heal("b", "a"); world.Trace("network: a and b joined"); });
                return $"partition a | b{(rejecting ? " with refusals" : "")} {lasting}";
            }
            case < 60:
                world.Network.Cut(node.Name, other.Name);
                world.Trace($"network: {node.Name} → {other.Name} cut (fault)");
                Later(() => { world.Network.Heal(node.Name, other.Name); world.Trace($"network: {node.Name} → {other.Name} healed"); });
                return $"one-way cut {node.Name} → {other.Name} {lasting}";
            case < 67:
            {
                var oneWay = random.Next(3) == 0;
                var before = world.Network.Cuts.ToHashSet();
                world.Isolate(node.Name, oneWay);
                var added = world.Network.Cuts.Where(c => !before.Contains(c)).ToList();
                world.Trace($"network: {node.Name} isolated{(oneWay ? " (outgoing only)" : "")} (fault)");
                Later(() => { foreach (var (from, to) in added) world.Network.Heal(from, to); world.Trace($"network: {node.Name} rejoined"); });
                return $"isolate {node.Name}{(oneWay ? " one way" : "")} {lasting}";
            }
            case < 74:
                world.WitnessDown();
                Later(world.WitnessUp);
                return $"witness down {lasting}";
            case < 78:
                world.Network.Cut(node.Name, "w");
                world.Network.Cut("w", node.Name);
                Later(() => { world.Network.Heal(node.Name, "w"); world.Network.Heal("w", node.Name); });
                return $"{node.Name} cut from the witness {lasting}";
            case < 82:
                world.Network.LossRate = 0.05 + random.NextDouble() * 0.25;
                world.Network.DuplicateRate = random.NextDouble() * 0.2;
                Later(() => { world.Network.LossRate = 0; world.Network.DuplicateRate = 0; });
                return $"lossy network ({world.Network.LossRate:P0} lost, {world.Network.DuplicateRate:P0} duplicated) {lasting}";
            case < 85:
                node.Database.Slowness = 3 + random.Next(8);
                Later(() => node.Database.Slowness = 1);
                return $"slow disk on {node.Name} (x{node.Database.Slowness}) {lasting}";
            case < 91:
                node.Verb("ha_cluster_stop", s => s.ClusterStopAsync(CancellationToken.None));
                Later(() => node.Verb("ha_cluster_start", s => s.ClusterStartAsync(CancellationToken.None)));
                return $"ha_cluster_stop on {node.Name}, ha_cluster_start after {duration.TotalSeconds:0.0} s";
            case < 94:
                node.Verb("ha_cluster_start", s => s.ClusterStartAsync(CancellationToken.None));
                return $"ha_cluster_start on {node.Name}";
            case < 98:
                node.ForcingTakeover = true;
                node.Verb("ha_takeover", async s =>
                {
                    try
                    {
                        return await s.TakeoverAsync(CancellationToken.None);
                    }
                    finally
                    {
                        node.ForcingTakeover = false;
                    }
                });
                return $"ha_takeover on {node.Name}";
            default:
                node.Verb("ha_teardown", s => s.TeardownAsync(CancellationToken.None));
                return $"ha_teardown on {node.Name}";
        }
    }
}
