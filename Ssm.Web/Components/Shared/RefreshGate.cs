namespace Ssm.Web.Components.Shared;

/// <summary>
/// Merges a burst of change notifications into one refresh: the product endpoint publishes for every registration
/// and report, and a page that re-queried for each would query thousands of times during a registration storm.
/// </summary>
public sealed class RefreshGate(Func<Task> refresh, TimeSpan? window = null) : IDisposable
{
    private readonly TimeSpan _window = window ?? TimeSpan.FromMilliseconds(500);
    private readonly Lock _lock = new();
    private bool _scheduled;
    private bool _disposed;

    public void Request()
    {
        lock (_lock)
        {
            if (_scheduled || _disposed)
                return;
            _scheduled = true;
        }
        _ = RunAsync();
    }

    private async Task RunAsync()
    {
        await Task.Delay(_window);
        lock (_lock)
        {
            _scheduled = false;
            if (_disposed)
                return;
        }
        try
        {
            await refresh();
        }
        catch (ObjectDisposedException)
        {
            // The page closed while the refresh waited.
        }
    }

    public void Dispose()
    {
        lock (_lock)
            _disposed = true;
    }
}
