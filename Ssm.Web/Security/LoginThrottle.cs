using System.Net;
using System.Threading.RateLimiting;

namespace Ssm.Web.Security;

/// <summary>
/// Failed logins counted per (user, source address) and per source address. A source that guessed too often
/// gets 429 until its window ends, while the same user logs in from anywhere else: an attacker cannot lock
/// the admin out. Only failures take permits, and a throttled attempt is answered without checking its password.
/// </summary>
public sealed class LoginThrottle : IDisposable
{
    public const int FailuresPerUserAndSource = 5;
    public const int FailuresPerSource = 20;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private readonly PartitionedRateLimiter<string> _failures = PartitionedRateLimiter.Create<string, string>(key =>
        RateLimitPartition.GetFixedWindowLimiter(key, k => new FixedWindowRateLimiterOptions
        {
            PermitLimit = k.StartsWith("source|", StringComparison.Ordinal) ? FailuresPerSource : FailuresPerUserAndSource,
            Window = Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>How long this source must wait before trying this user again, or null when it may try now.</summary>
    public TimeSpan? RetryAfter(IPAddress? source, string userName)
    {
        foreach (var key in KeysOf(source, userName))
        {
            // Zero permits asks without taking one; a refused lease says when the window ends.
            using var lease = _failures.AttemptAcquire(key, 0);
            if (!lease.IsAcquired)
                return lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : Window;
        }
        return null;
    }

    public void RecordFailure(IPAddress? source, string userName)
    {
        foreach (var key in KeysOf(source, userName))
            _failures.AttemptAcquire(key).Dispose();
    }

    private static string[] KeysOf(IPAddress? source, string userName)
    {
        var address = source?.IsIPv4MappedToIPv6 == true ? source.MapToIPv4() : source;
        return [$"source|{address}", $"user|{address}|{userName.Trim().ToLowerInvariant()}"];
    }

    public void Dispose() => _failures.Dispose();
}
