using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Ssm.Domain.Events;
using EventLogEntry = Ssm.Domain.Events.EventLogEntry;

namespace Ssm.Application.Common;

/// <summary>
/// Logs and times every message, counts it for /metrics, and writes the Event Log entry of an audited
/// command that failed (a successful one writes its own entry in its transaction).
/// </summary>
public sealed class LoggingBehavior<TMessage, TResponse>(
    ILogger<LoggingBehavior<TMessage, TResponse>> logger,
    IDocumentStore store,
    ICurrentUser user,
    IClock clock,
    ChangeNotifier notifier)
    : IPipelineBehavior<TMessage, TResponse>
    where TMessage : notnull, IMessage
{
    public async ValueTask<TResponse> Handle(TMessage message, MessageHandlerDelegate<TMessage, TResponse> next, CancellationToken cancellationToken)
    {
        var name = typeof(TMessage).Name;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var response = await next(message, cancellationToken);
            var elapsed = Stopwatch.GetElapsedTime(started);
            MediatorMetrics.Record(name, elapsed, failed: false);
            logger.LogDebug("{Message} by {User} succeeded in {ElapsedMs:0.0} ms", name, user.Name, elapsed.TotalMilliseconds);
            return response;
        }
        catch (Exception ex)
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            MediatorMetrics.Record(name, elapsed, failed: true);
            var error = ErrorText.Describe(ex);
            logger.LogWarning("{Message} by {User} failed in {ElapsedMs:0.0} ms: {Error}", name, user.Name, elapsed.TotalMilliseconds, error);
            if (message is IAudited audited)
                await RecordFailureAsync(audited, error);
            throw;
        }
    }

    private async Task RecordFailureAsync(IAudited command, string error)
    {
        try
        {
            // A fresh session: the handler's own session may hold the half-done change that must not commit.
            await using var session = store.LightweightSession();
            session.Store(EventLogEntry.Record(clock.UtcNow, user.Name, command.Category, EventLog.ActionOf(command),
                command.Subject, EventOutcome.Failure, error, EventLog.AccountOf(command)));
            await session.SaveChangesAsync(CancellationToken.None);
            notifier.Publish(ChangeTopic.Events);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Could not record the failure of {Message} in the Event Log", EventLog.ActionOf(command));
        }
    }
}

public static class MediatorMetrics
{
    public const string MeterName = "Ssm.Mediator";
    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Messages = Meter.CreateCounter<long>("ssm.mediator.messages", description: "Messages handled");
    private static readonly Counter<long> Failures = Meter.CreateCounter<long>("ssm.mediator.failures", description: "Messages that failed");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("ssm.mediator.duration", unit: "ms", description: "Time to handle a message");

    public static void Record(string message, TimeSpan elapsed, bool failed)
    {
        var tag = new KeyValuePair<string, object?>("message", message);
        Messages.Add(1, tag);
        Duration.Record(elapsed.TotalMilliseconds, tag);
        if (failed)
            Failures.Add(1, tag);
    }
}
