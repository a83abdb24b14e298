namespace Ssm.Application.Ha;

/// <summary>
/// Times the steps of one transition on the supervisor's clock and says where the time went, in one log line:
/// "stop 270 ms, lsn 40 ms, ...". A failover's gap is the sum of such steps on two nodes.
/// </summary>
internal sealed class StepTimer(TimeProvider time)
{
    private readonly List<string> _steps = [];
    private long _last = time.GetTimestamp();

    public void Step(string name)
    {
        var now = time.GetTimestamp();
        _steps.Add($"{name} {time.GetElapsedTime(_last, now).TotalMilliseconds:0} ms");
        _last = now;
    }

    public override string ToString() => string.Join(", ", _steps);
}
