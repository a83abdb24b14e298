using System.Threading.Channels;
using Ssm.Domain.Notifications;

namespace Ssm.Application.Notifications;

/// <summary>
/// One bounded queue per channel between what notices events and what sends them (decision 0030). Enqueuing never
/// waits: when a receiver is down long enough for its queue to fill, the oldest notification gives way and is
/// counted; the event itself stays in the Event Log. Nothing that records a cluster event ever waits for a receiver.
/// </summary>
public sealed class NotificationQueue
{
    public const int Capacity = 500;
    private readonly Dictionary<NotificationChannel, Channel<Notification>> _queues;
    private long _dropped;

    public NotificationQueue()
    {
        _queues = Enum.GetValues<NotificationChannel>().ToDictionary(c => c, c => Channel.CreateBounded<Notification>(
            new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Interlocked.Increment(ref _dropped)));
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    public void Enqueue(NotificationChannel channel, Notification notification) => _queues[channel].Writer.TryWrite(notification);

    public ChannelReader<Notification> Reader(NotificationChannel channel) => _queues[channel].Reader;

    public int Count(NotificationChannel channel) => _queues[channel].Reader.Count;
}
