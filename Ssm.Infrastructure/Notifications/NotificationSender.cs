using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Ssm.Application.Notifications;
using Ssm.Domain.Notifications;

namespace Ssm.Infrastructure.Notifications;

/// <summary>
/// Sends each channel's queue in order, one notification at a time. A receiver that does not answer is retried with
/// growing pauses (1 s to 30 s) while its queue takes new notifications (bounded, decision 0030); a notification is
/// given up after a day, or when its channel is switched off.
/// </summary>
public sealed class NotificationSender(NotificationQueue queue, INotificationTransport transport, IDocumentStore store,
    ILogger<NotificationSender> logger) : BackgroundService
{
    public static TimeSpan FirstRetry { get; set; } = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan GiveUp = TimeSpan.FromDays(1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enum.GetValues<NotificationChannel>().Select(channel => Task.Run(() => RunAsync(channel, stoppingToken), stoppingToken)));

    private async Task RunAsync(NotificationChannel channel, CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var notification in queue.Reader(channel).ReadAllAsync(stoppingToken))
                await DeliverAsync(channel, notification, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(NotificationChannel channel, Notification notification, CancellationToken stoppingToken)
    {
        var pause = FirstRetry;
        for (var attempt = 1; ; attempt++)
        {
            NotificationSettings? settings = null;
            try
            {
                await using (var session = store.QuerySession())
                    settings = await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId, stoppingToken);
                if (settings is null || !settings.Enabled(channel))
                    return;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(15));
                await transport.SendAsync(channel, settings, notification, timeout.Token);
                if (attempt > 1)
                    logger.LogInformation("{Channel} notification {Event} delivered at attempt {Attempt}", channel, notification.Event, attempt);
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                if (DateTimeOffset.UtcNow - notification.At > GiveUp)
                {
                    logger.LogError("{Channel} notification {Event} of {At:u} given up after {Attempt} attempts: {Error}",
                        channel, notification.Event, notification.At, attempt, ex.Message);
                    return;
                }
                logger.LogWarning("{Channel} notification {Event} not delivered (attempt {Attempt}, {Queued} queued, {Dropped} dropped): {Error}",
                    channel, notification.Event, attempt, queue.Count(channel), queue.Dropped, ex.Message);
            }
            await Task.Delay(pause, stoppingToken);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LastRetry.Ticks));
        }
    }
}
