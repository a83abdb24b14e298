using System.Text.Json;
using Microsoft.Extensions.Logging;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Domain.Events;
using Ssm.Domain.Nodes;

namespace Ssm.Tests.Simulation;

/// <summary>The node's state file: survives the node's crashes, as the file in its data folder does.</summary>
public sealed class SimStateStore : ILocalStateStore
{
    private string _json = JsonSerializer.Serialize(new LocalNodeState());

    public LocalNodeState Load() => JsonSerializer.Deserialize<LocalNodeState>(_json)!;

    public void Save(LocalNodeState state)
    {
        _json = JsonSerializer.Serialize(state);
        SavedEpoch = state.Epoch;
    }

    /// <summary>The epoch last written (checked after every step, so kept apart from the JSON).</summary>
    public long SavedEpoch { get; private set; }
}

/// <summary>The one address; the last node to take it gets the traffic (gratuitous ARP), even after it died.</summary>
public sealed class SimVipAddress
{
    public string? Owner { get; set; }
}

public sealed class SimVip(SimWorld world, string node) : IVip
{
    public string Provider => "sim";
    public string? Address { get; private set; }
    public bool Held { get; set; }
    // As the `ip` provider: the next holder takes the address over, so a handover keeps it until then.
    public bool CanBeTakenWhileHeld => true;

    public Task AcquireAsync(string address, CancellationToken cancellationToken)
    {
        Address = address;
        Held = true;
        if (world.Vip.Owner != node)
            world.Trace($"{node}: VIP acquired (was {world.Vip.Owner ?? "nobody"})");
        world.Vip.Owner = node;
        return Task.CompletedTask;
    }

    public Task ReleaseAsync()
    {
        if (Held && world.Vip.Owner == node)
        {
            world.Vip.Owner = null;
            world.Trace($"{node}: VIP released");
        }
        Held = false;
        return Task.CompletedTask;
    }
}

/// <summary>The cluster document and Event Log lines are commits on the node's own database, like any other.</summary>
public sealed class SimJournal(SimWorld world, SimDatabase database) : IClusterJournal
{
    private Task Commit(CancellationToken cancellationToken) => database.CommitAsync(world.NextJournalId(), cancellationToken);

    public Task RecordDeployAsync(ClusterDocument cluster, CancellationToken cancellationToken) => Commit(cancellationToken);
    public Task RecordTakeoverAsync(FailoverRecord record, CancellationToken cancellationToken)
    {
        world.Trace($"{record.To}: takeover recorded: {record.Cause}");
        return Commit(cancellationToken);
    }
    public Task RecordTeardownAsync(string discarded, long epoch, CancellationToken cancellationToken) => Commit(cancellationToken);
    public Task RecordEventAsync(EventLogEntry entry, CancellationToken cancellationToken) => Commit(cancellationToken);
    public Task ApplySchemaAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public sealed class SimClock(SimScheduler scheduler) : IClock
{
    public DateTimeOffset UtcNow => scheduler.Time.GetUtcNow();
}

/// <summary>The supervisor's log lines go into the run's trace, stamped with virtual time and the node.</summary>
public sealed class SimLogger<T>(SimWorld world, string node) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
            world.Trace($"{node}: {formatter(state, exception)}{(exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})")}");
    }
}
