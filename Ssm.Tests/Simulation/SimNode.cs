using Microsoft.Extensions.Options;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Domain.Nodes;

namespace Ssm.Tests.Simulation;

/// <summary>
/// One node host: its state file and PostgreSQL outlive the node process, which the simulator kills, freezes and
/// restarts. Each start builds a new <see cref="ClusterSupervisor"/>: the production code, on simulated ports.
/// </summary>
public sealed class SimNode
{
    private readonly SimWorld _world;

    public SimNode(SimWorld world, string name)
    {
        _world = world;
        Name = name;
        Database = new SimDatabase(world, name, name);
        Vip = new SimVip(world, name);
        Process = world.Scheduler.CreateProcess(name);
        Process.Kill();
        Supervisor = null!;
    }

    public string Name { get; }
    public string Host => Name;
    public SimDatabase Database { get; }
    public SimStateStore Store { get; } = new();
    public SimVip Vip { get; }
    public SimProcess Process { get; private set; }
    public ClusterSupervisor Supervisor { get; private set; }
    public bool ForcingTakeover { get; set; }
    public long HighestEpoch { get; set; }
    public int Starts { get; private set; }

    public static HaOptions Options() => new()
    {
        ManageDatabase = true, Witness = "host=w", HeartbeatIntervalMs = 200, FailoverTimeoutMs = 1000, DatabaseTimeoutMs = 3000, VipProvider = "sim",
    };

    public void Start()
    {
        Starts++;
        Process = _world.Scheduler.CreateProcess(Name);
        Vip.Held = false;
        var node = new NodeOptions { Name = Name, Listen = $"http://{Host}:8443", PeerPort = 8444 };
        Supervisor = new ClusterSupervisor(Database, Vip, new SimWitness(_world, Host), new SimPeerLink(_world, Host), Store,
            Microsoft.Extensions.Options.Options.Create(Options()), Microsoft.Extensions.Options.Options.Create(node),
            new SimJournal(_world, Database), new ChangeNotifier(), new SimClock(_world.Scheduler), _world.Scheduler.Time,
            new SimLogger<ClusterSupervisor>(_world, Name));
        var supervisor = Supervisor;
        _world.Trace($"{Name}: node process started");
        _world.Scheduler.Post(Process, () => _ = RunAsync(supervisor));
    }

    /// <summary>As the node host: the cluster start-up, then the heartbeat job every interval (never two at once).</summary>
    private async Task RunAsync(ClusterSupervisor supervisor)
    {
        var time = _world.Scheduler.Time;
        try
        {
            await supervisor.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), time);
        }
        catch (TimeoutException)
        {
        }
        catch (Exception ex)
        {
            _world.Trace($"{Name}: start-up failed: {ex.Message}");
        }
        var interval = Options().HeartbeatInterval;
        while (true)
        {
            await Task.Delay(interval, time);
            await supervisor.TickAsync(CancellationToken.None);
        }
    }

    public void Crash()
    {
        Process.Kill();
        Vip.Held = false;
        _world.Trace($"{Name}: node process killed");
    }

    /// <summary>An operator verb, run on the node as the console's call would be; a refusal is an answer, not a failure.</summary>
    public void Verb(string verb, Func<ClusterSupervisor, Task<string>> call)
    {
        if (!Process.Alive)
            return;
        var supervisor = Supervisor;
        _world.Scheduler.Post(Process, async void () =>
        {
            _world.Trace($"operator: {verb} on {Name}");
            try
            {
                var answer = await call(supervisor);
                _world.Trace($"operator: {verb} on {Name}: {answer}");
            }
            catch (Exception ex)
            {
                _world.Trace($"operator: {verb} on {Name} refused: {ex.Message}");
            }
        });
    }

    public NodeRole Role => Process.Alive ? Supervisor.Role : NodeRole.Stopped;
}
