namespace Ssm.Tests.Support;

/// <summary>Waits for a condition the test can only ask about (a status over HTTP, a row), failing with a message at the deadline.</summary>
public static class Eventually
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    /// <summary>The first value the probe finds (non-null), asked again every 200 ms until the timeout.</summary>
    public static async Task<T> FoundAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string failure) where T : struct
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await probe() is { } found)
                return found;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(failure);
            await Task.Delay(Interval);
        }
    }
}
