using System.Collections.Concurrent;
using System.Diagnostics;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

/// <summary>
/// Tokens without a use limit and the name of their account, as a registration storm reads them: from the database at
/// most once a second per token instead of twice per registration. A revocation, a new token or an account change on
/// this node (the only node that writes) empties it at once; a read that raced with such a change is not kept. A
/// limited token is never kept: its counter must be read in the transaction that raises it.
/// </summary>
public sealed class RegistrationTokenCache
{
    private static readonly TimeSpan Freshness = TimeSpan.FromSeconds(1);
    private const int MaxEntries = 1024;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _generation;

    public sealed record Usable(RegistrationToken Token, Guid AccountId, string AccountName);

    private sealed record Entry(Usable Value, long ReadAt);

    public RegistrationTokenCache(ChangeNotifier notifier) => notifier.Changed += topic =>
    {
        if (topic is ChangeTopic.Registration or ChangeTopic.Accounts)
            Forget();
    };

    /// <summary>Call before reading from the database; <see cref="Keep"/> takes it back to detect a change in between.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    public Usable? Find(string hash) =>
        _entries.TryGetValue(hash, out var entry) && Stopwatch.GetElapsedTime(entry.ReadAt) < Freshness ? entry.Value : null;

    public void Keep(string hash, Usable value, long generation, long readAt)
    {
        if (value.Token.MaxUses is not null)
            return;
        if (_entries.Count >= MaxEntries)
            _entries.Clear();
        _entries[hash] = new Entry(value, readAt);
        // A change published while this was read: it may be older than the change, so it goes.
        if (Generation != generation)
            _entries.TryRemove(hash, out _);
    }

    public void Forget()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }
}
