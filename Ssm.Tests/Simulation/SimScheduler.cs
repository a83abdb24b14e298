namespace Ssm.Tests.Simulation;

/// <summary>
/// One simulated process (a node, a PostgreSQL server, the witness, the client): the owner of work items and timers.
/// A killed process runs nothing more; a frozen one (SIGSTOP) keeps everything until it thaws.
/// </summary>
public sealed class SimProcess
{
    internal SimProcess(SimScheduler scheduler, string name)
    {
        Scheduler = scheduler;
        Name = name;
        Context = new SimSynchronizationContext(this);
    }

    public SimScheduler Scheduler { get; }
    public string Name { get; }
    public bool Alive { get; private set; } = true;
    public bool Frozen { get; private set; }
    public SynchronizationContext Context { get; }
    internal List<Action> Held { get; } = [];

    public void Kill()
    {
        Alive = false;
        Frozen = false;
        Held.Clear();
    }

    public void Freeze() => Frozen = Alive;

    public void Thaw()
    {
        if (!Frozen)
            return;
        Frozen = false;
        foreach (var item in Held)
            Scheduler.Post(this, item);
        Held.Clear();
    }
}

/// <summary>Continuations of code running "inside" a simulated process go back to the scheduler, tagged with it.</summary>
public sealed class SimSynchronizationContext(SimProcess process) : SynchronizationContext
{
    public SimProcess Process => process;

    public override void Post(SendOrPostCallback d, object? state) => process.Scheduler.Post(process, () => d(state));

    public override void Send(SendOrPostCallback d, object? state) => d(state);

    public override SynchronizationContext CreateCopy() => this;
}

/// <summary>
/// Runs every simulated process on one thread, in an order drawn from the seed, on virtual time: ready work items
/// first (a random one each step), then the next timer. The same seed gives the same run, step for step.
/// </summary>
public sealed class SimScheduler
{
    private readonly List<(SimProcess Owner, Action Work)> _ready = [];
    private readonly PriorityQueue<SimTimer, (long Due, long Sequence)> _timers = new();
    private long _sequence;

    public SimScheduler(int seed)
    {
        Random = new Random(seed);
        Time = new VirtualTime(this);
        System = CreateProcess("sim");
    }

    public Random Random { get; }
    public VirtualTime Time { get; }
    /// <summary>The simulator's own process (network deliveries, the fault schedule): never killed or frozen.</summary>
    public SimProcess System { get; }
    public long NowTicks { get; private set; }
    public TimeSpan Now => TimeSpan.FromTicks(NowTicks);
    public long Steps { get; private set; }
    /// <summary>Called after every step; throws to stop the run at the first violation.</summary>
    public Action? AfterStep { get; set; }

    public SimProcess CreateProcess(string name) => new(this, name);

    public void Post(SimProcess owner, Action work)
    {
        if (_thread != 0 && Environment.CurrentManagedThreadId != _thread)
        {
            // The finalizer of a dead process's PeriodicTimer wakes its waiter: nothing of it may run anyway.
            if (!owner.Alive)
                return;
            // Work arriving from another thread (the thread pool) would make the run depend on real timing.
            Escaped ??= new System.Diagnostics.StackTrace().ToString();
            return;
        }
        if (!owner.Alive)
            return;
        _ready.Add((owner, work));
    }

    private int _thread;

    /// <summary>Where code under simulation escaped to the thread pool (a determinism bug of the simulator's ports), if it did.</summary>
    public string? Escaped { get; private set; }

    /// <summary>Runs work on the owner's "thread" after a virtual delay.</summary>
    public SimTimer After(SimProcess owner, TimeSpan delay, Action work)
    {
        var timer = new SimTimer(this, owner, _ => work(), null);
        timer.Change(delay, Timeout.InfiniteTimeSpan);
        return timer;
    }

    internal void ScheduleRaw(SimTimer timer, long due, long version) => _timers.Enqueue(timer, (due, version));

    /// <summary>Runs until virtual time reaches the end (or nothing is left to do).</summary>
    public void RunUntil(TimeSpan end)
    {
        var endTicks = end.Ticks;
        _thread = Environment.CurrentManagedThreadId;
        while (true)
        {
            if (_ready.Count > 0)
            {
                var index = Random.Next(_ready.Count);
                var (owner, work) = _ready[index];
                _ready[index] = _ready[^1];
                _ready.RemoveAt(_ready.Count - 1);
                Execute(owner, work);
                continue;
            }
            if (!_timers.TryPeek(out var timer, out var key) || key.Due > endTicks)
            {
                NowTicks = Math.Max(NowTicks, endTicks);
                return;
            }
            _timers.Dequeue();
            if (timer.Version != key.Sequence)
                continue;   // changed or disposed since
            NowTicks = Math.Max(NowTicks, key.Due);
            timer.Fire();
        }
    }

    internal void Execute(SimProcess owner, Action work)
    {
        if (!owner.Alive)
            return;
        if (owner.Frozen)
        {
            owner.Held.Add(work);
            return;
        }
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(owner.Context);
        try
        {
            Steps++;
            work();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
        AfterStep?.Invoke();
    }

    internal long NextSequence() => ++_sequence;

    /// <summary>The process whose code is running now (timers and work it creates belong to it).</summary>
    public SimProcess CurrentProcess => SynchronizationContext.Current is SimSynchronizationContext context ? context.Process : System;
}

public sealed class SimTimer : ITimer
{
    private readonly SimScheduler _scheduler;
    private readonly SimProcess _owner;
    private readonly TimerCallback _callback;
    private readonly object? _state;
    private long _period = -1;

    internal SimTimer(SimScheduler scheduler, SimProcess owner, TimerCallback callback, object? state)
    {
        _scheduler = scheduler;
        _owner = owner;
        _callback = callback;
        _state = state;
    }

    internal long Version { get; private set; }

    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        Version = _scheduler.NextSequence();
        _period = period == Timeout.InfiniteTimeSpan ? -1 : Math.Max(period.Ticks, TimeSpan.TicksPerMillisecond);
        if (dueTime == Timeout.InfiniteTimeSpan)
            return true;
        var due = _scheduler.NowTicks + Math.Max(0, dueTime.Ticks);
        ScheduleAt(due);
        return true;
    }

    // An entry counts only while its version is the timer's: a change or a dispose makes older entries stale.
    private void ScheduleAt(long due) => _scheduler.ScheduleRaw(this, due, Version);

    internal void Fire()
    {
        if (_period > 0 && _owner.Alive)
        {
            Version = _scheduler.NextSequence();
            ScheduleAt(_scheduler.NowTicks + _period);
        }
        _scheduler.Execute(_owner, () => _callback(_state));
    }

    public void Dispose() => Version = _scheduler.NextSequence();

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Virtual time for the code under test: TimeProvider's clock, timestamps and timers all follow the scheduler.</summary>
public sealed class VirtualTime(SimScheduler scheduler) : TimeProvider
{
    private static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => Origin + scheduler.Now;

    public override long GetTimestamp() => scheduler.NowTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new SimTimer(scheduler, scheduler.CurrentProcess, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }
}
