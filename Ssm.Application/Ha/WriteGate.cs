namespace Ssm.Application.Ha;

/// <summary>
/// Counts the requests a node admitted while it took writes, so that a planned handover stops the database only once
/// each of them has its true answer (issue 12: a client that timed out during a handover must not have committed).
/// A request enters before it looks at the role and the supervisor drops the role before it counts, both through
/// full fences, so a request is either counted or sees the node no longer active.
/// </summary>
public sealed class WriteGate
{
    private int _inFlight;

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Admits a request if the node takes writes; an admitted request must call <see cref="Exit"/>.</summary>
    public bool TryEnter(Func<bool> acceptsWrites)
    {
        Interlocked.Increment(ref _inFlight);
        if (acceptsWrites())
            return true;
        Exit();
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Waits until no admitted request is left, looking every 5 ms; false if some are left at the timeout.</summary>
    public async Task<bool> WaitDrainedAsync(TimeSpan timeout, TimeProvider time)
    {
        var started = time.GetTimestamp();
        while (Interlocked.CompareExchange(ref _inFlight, 0, 0) > 0)
        {
            if (time.GetElapsedTime(started) >= timeout)
                return false;
            await Task.Delay(TimeSpan.FromMilliseconds(5), time);
        }
        return true;
    }
}
