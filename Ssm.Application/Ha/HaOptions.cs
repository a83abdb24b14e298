namespace Ssm.Application.Ha;

/// <summary>Cluster timing and the node's own database (section "Cluster").</summary>
public sealed class HaOptions
{
    public const string Section = "Cluster";

    /// <summary>The node runs and controls its own PostgreSQL under DataDirectory/pg (needed for a cluster).</summary>
    public bool ManageDatabase { get; set; }
    public string? PostgresBin { get; set; }
    public string? DatabaseHost { get; set; }
    public int DatabasePort { get; set; } = 5432;
    /// <summary>The folder ha_generate_keys wrote (ca.crt, ca.key): the cluster CA this node trusts and signs its certificate with.</summary>
    public string? KeysDirectory { get; set; }
    /// <summary>
    /// The witness PostgreSQL, configured on each node (never sent between them). Without a password the node logs
    /// in with its cluster certificate and verifies the witness's (sslmode verify-full against the cluster CA).
    /// </summary>
    public string? Witness { get; set; }
    public int HeartbeatIntervalMs { get; set; } = 200;
    public int FailoverTimeoutMs { get; set; } = 1000;
    /// <summary>How long the active's own database may not answer before it steps down (at least the failover timeout).</summary>
    public int DatabaseTimeoutMs { get; set; } = 3000;
    public string VipProvider { get; set; } = "loopback";
    public string? VipInterface { get; set; }

    public TimeSpan HeartbeatInterval => TimeSpan.FromMilliseconds(HeartbeatIntervalMs);
    public TimeSpan FailoverTimeout => TimeSpan.FromMilliseconds(FailoverTimeoutMs);

    /// <summary>
    /// An active that has neither renewed its lease nor heard its peer for this long fences itself.
    /// Two heartbeats before the lease can expire at the witness, so it is down before anyone may promote.
    /// </summary>
    public TimeSpan FenceAfter => FailoverTimeout - 2 * HeartbeatInterval;

    /// <summary>
    /// An active whose own database has not answered for this long says so to its peer, which may then take over.
    /// Longer than the failover timeout: a database slowed by load (2 busy cores, 64 clients) answers late, but
    /// answers, and stepping down for that would turn load into an outage. A frozen one is taken over after this.
    /// </summary>
    public TimeSpan DatabaseTimeout => TimeSpan.FromMilliseconds(Math.Max(DatabaseTimeoutMs, FailoverTimeoutMs));

    /// <summary>The active fences itself two heartbeats before it would tell its peer that its database is gone.</summary>
    public TimeSpan DatabaseFenceAfter => DatabaseTimeout - 2 * HeartbeatInterval;

    /// <summary>
    /// A database silent this long whose server is stopped by a signal is lost, without waiting for the database
    /// timeout: a stopped server answers nobody until someone continues it, however light the load (decision 0038).
    /// Two heartbeats: the active reads its database every heartbeat, so one late answer is not enough.
    /// </summary>
    public TimeSpan StoppedDatabaseFenceAfter => 2 * HeartbeatInterval;

    /// <summary>
    /// The database guard kills the active's PostgreSQL when the node gives no sign of life (decisions 0040, 0042): at
    /// once when the node's process is stopped by a signal or gone, after this long when it is merely silent. Two
    /// heartbeats: the killed server's refusing port is what lets the standby take over without waiting out the lease,
    /// so the kill is on the client's clock. A false kill costs a failover, never a write: it only removes a writer.
    /// </summary>
    public TimeSpan GuardAfter => 2 * HeartbeatInterval;
}

public sealed class HaOptionsValidator : AbstractValidator<HaOptions>
{
    public HaOptionsValidator()
    {
        RuleFor(x => x.HeartbeatIntervalMs).InclusiveBetween(50, 10_000);
        RuleFor(x => x.FailoverTimeoutMs).InclusiveBetween(300, 120_000);
        RuleFor(x => x.DatabaseTimeoutMs).InclusiveBetween(300, 300_000);
        // As Patroni's loop_wait + 2*retry_timeout <= ttl: the active must be able to notice it is cut
        // off and fence itself before the witness lets the standby take its lease.
        RuleFor(x => x.FailoverTimeoutMs).GreaterThanOrEqualTo(x => 3 * x.HeartbeatIntervalMs)
            .WithMessage("Cluster:FailoverTimeoutMs must be at least 3 × Cluster:HeartbeatIntervalMs, so an isolated active fences itself before its lease expires.");
        RuleFor(x => x.DatabasePort).InclusiveBetween(1, 65535);
        RuleFor(x => x.VipProvider).Must(p => p is "loopback" or "ip" or "external")
            .WithMessage("Cluster:VipProvider must be loopback, ip or external.");
        RuleFor(x => x.VipInterface).NotEmpty().When(x => x.VipProvider == "ip")
            .WithMessage("Cluster:VipInterface is needed by the ip provider.");
    }
}
