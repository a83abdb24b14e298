using System.Diagnostics;

namespace Ssm.Tests.Simulation;

/// <summary>
/// The cluster supervisor, unchanged, on simulated databases, witness, network and VIP (docs/cluster-simulation.md).
/// SIM_SEEDS and SIM_FIRST_SEED choose the seeds; bench/simulate.sh runs many more.
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) ? value : fallback;

    [Fact]
    public void Every_seed_keeps_one_writer_and_every_acknowledged_write()
    {
        var first = Setting("SIM_FIRST_SEED", 1);
        var count = Setting("SIM_SEEDS", 2000);
        var started = Stopwatch.GetTimestamp();
        var results = new SimResult[count];
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            i => results[i] = SimRun.Run(first + i));
        var violations = results.Where(r => r.Violation is not null).ToList();
        var summary = $"{count} seeds, {violations.Count} violations ({results.Sum(r => r.Acknowledged)} acknowledged writes, " +
                      $"{results.Sum(r => r.Steps)} steps, {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s)";
        output.WriteLine(summary);
        if (Environment.GetEnvironmentVariable("SIM_REPORT") is { Length: > 0 } report)
            File.WriteAllText(report, summary + "\n" + string.Join("\n", violations.Select(v => $"seed {v.Seed}: {v.Violation}")) + "\n");
        foreach (var violation in violations.Take(3))
            output.WriteLine(violation.Report());
        violations.ShouldBeEmpty(summary + "; replay one with SIM_FIRST_SEED=<seed> SIM_SEEDS=1");
    }

    [Fact]
    public void A_seed_replays_step_for_step()
    {
        var first = SimRun.Run(4242, traceLines: 100_000);
        var again = SimRun.Run(4242, traceLines: 100_000);
        again.Steps.ShouldBe(first.Steps);
        again.Trace.ShouldBe(first.Trace);
        first.Acknowledged.ShouldBeGreaterThan(100);
    }
}

public sealed class SimulationDebug(ITestOutputHelper output)
{
    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) ? value : fallback;

    [Fact]
    public void Seed_one()
    {
        var result = SimRun.Run(Setting("SIM_FIRST_SEED", 1), 3000);
        output.WriteLine(result.Report());
    }

    [Fact]
    public void Witness_round_trip()
    {
        var world = new SimWorld(1);
        var process = world.Scheduler.CreateProcess("x");
        var witness = new SimWitness(world, "a");
        witness.Configure("w");
        string? result = null;
        world.Scheduler.Post(process, async void () =>
        {
            try
            {
                await witness.InitializeAsync("ssm", "a", 1, TimeSpan.FromSeconds(5), CancellationToken.None);
                result = "ok " + world.Scheduler.Now;
            }
            catch (Exception ex)
            {
                result = ex.ToString();
            }
        });
        world.Scheduler.RunUntil(TimeSpan.FromSeconds(3));
        output.WriteLine(result ?? "nothing");
        result.ShouldStartWith("ok");
    }
}
