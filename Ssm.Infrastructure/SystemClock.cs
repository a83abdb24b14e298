using Ssm.Application.Common;

namespace Ssm.Infrastructure;

internal sealed class SystemClock : IClock
{
    // PostgreSQL keeps microseconds; instants finer than that would compare unequal after a round trip.
    public DateTimeOffset UtcNow
    {
        get
        {
            var now = DateTimeOffset.UtcNow;
            return now.AddTicks(-(now.Ticks % 10));
        }
    }
}
