namespace Ssm.Tests.Simulation;

/// <summary>
/// The wires between hosts: A and B (the nodes), W (the witness) and C (the client). A link can be cut one way;
/// each message takes a drawn latency, and the seed may make some lost or delivered twice.
/// </summary>
public sealed class SimNetwork(SimScheduler scheduler)
{
    private readonly HashSet<(string From, string To)> _cut = [];
    private readonly HashSet<(string From, string To)> _rejecting = [];

    public double LossRate { get; set; }
    public double DuplicateRate { get; set; }
    public double MaxExtraDelayMs { get; set; } = 2;

    public bool Reachable(string from, string to) => from == to || !_cut.Contains((from, to));

    /// <summary>A connection from → to is refused at once, whoever listens there (a firewall's REJECT), as a dead host's port would.</summary>
    public bool Rejects(string from, string to) => _rejecting.Contains((from, to));

    public void Cut(string from, string to) => _cut.Add((from, to));

    /// <summary>A cut whose firewall answers with refusals instead of silence: the adversary of positive evidence of death.</summary>
    public void Reject(string from, string to)
    {
        _cut.Add((from, to));
        _rejecting.Add((from, to));
    }

    public void Heal(string from, string to)
    {
        _cut.Remove((from, to));
        _rejecting.Remove((from, to));
    }

    public void HealAll()
    {
        _cut.Clear();
        _rejecting.Clear();
    }

    public IEnumerable<(string From, string To)> Cuts => _cut;

    public TimeSpan Latency() =>
        TimeSpan.FromMilliseconds(0.2 + scheduler.Random.NextDouble() * MaxExtraDelayMs);

    /// <summary>
    /// Sends one message: delivered on the receiver's process after a latency unless the link is cut (then, or when
    /// lost, it is never delivered; the sender's own timeout decides). A duplicate models a retried request.
    /// </summary>
    public void Send(string from, string to, SimProcess receiver, Action deliver, bool mayDuplicate = false)
    {
        if (!Reachable(from, to) || scheduler.Random.NextDouble() < LossRate)
            return;
        scheduler.After(scheduler.System, Latency(), () =>
        {
            // Cut while in flight: lost.
            if (Reachable(from, to))
                scheduler.Post(receiver, deliver);
        });
        if (mayDuplicate && scheduler.Random.NextDouble() < DuplicateRate)
            scheduler.After(scheduler.System, Latency() * 3, () =>
            {
                if (Reachable(from, to))
                    scheduler.Post(receiver, deliver);
            });
    }
}
