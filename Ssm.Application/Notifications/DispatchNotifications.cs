using Ssm.Application.Ha;
using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain.Certificates;
using Ssm.Domain.Events;
using Ssm.Domain.Licenses;
using Ssm.Domain.Nodes;
using Ssm.Domain.Notifications;
using Ssm.Domain.Products;

namespace Ssm.Application.Notifications;

/// <summary>
/// Every few seconds (a Quartz job): reads what happened since the last look — new Event Log entries, the cluster's
/// status, the synchronization alerts, silent products, the server certificate — and queues a notification for each
/// event that notifies (decision 0030). Only the active (or standalone) node queues; a standby reads along so that
/// it does not repeat, after a failover, what the old active already sent. It never sends itself, so it never waits
/// for a receiver.
/// </summary>
[Sender(SenderRole.Internal)]
public sealed record DispatchNotifications : ICommand<int>;

/// <summary>What the dispatcher has seen so far (one per node).</summary>
public sealed class NotificationWatch(IClock clock)
{
    public DateTimeOffset Cursor { get; set; } = clock.UtcNow;
    public HashSet<Guid> SeenAtCursor { get; } = [];
    public HaStatus? LastStatus { get; set; }
    public HashSet<string> AlertsSeen { get; } = [];
    public long SilentProducts { get; set; }
    public DateTimeOffset? CertificateWarnedFor { get; set; }
    /// <summary>The licenses out of compliance at the last check: one notifies when it enters this set, not while it stays.</summary>
    public HashSet<(Guid AccountId, string Tag)> OutOfCompliance { get; } = [];
    public DateTimeOffset? LicensesCheckedAt { get; set; }
}

public sealed class DispatchNotificationsHandler(IQuerySession session, ISender sender, NotificationWatch watch, NotificationQueue queue, IClock clock,
    ClusterSupervisor supervisor, Microsoft.Extensions.Options.IOptions<NodeOptions> node) : ICommandHandler<DispatchNotifications, int>
{
    private static readonly TimeSpan CertificateWarning = TimeSpan.FromDays(30);

    /// <summary>
    /// How often license usage is compared with what was bought: usage changes when products report (hours apart), and
    /// the sum over every product takes a second at a million of them. Tests set it to zero.
    /// </summary>
    public static TimeSpan LicenseCheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    public async ValueTask<int> Handle(DispatchNotifications command, CancellationToken cancellationToken)
    {
        // A stopped node's database is down: nothing to read, and nothing it could send would be news.
        if (supervisor.Role == NodeRole.Stopped)
            return 0;
        var now = clock.UtcNow;
        var name = node.Value.Name;
        var status = await sender.Send(new GetHaStatus(), cancellationToken);
        var active = status.Deployed ? status.Self.Role == NodeRole.Active : status.Self.Role is NodeRole.Standalone or NodeRole.Active;
        var settings = await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId, cancellationToken);
        var found = new List<Notification>();

        var entries = await session.Query<EventLogEntry>().Where(e => e.At >= watch.Cursor).OrderBy(e => e.At).Take(500).ToListAsync(cancellationToken);
        foreach (var entry in entries.Where(e => !watch.SeenAtCursor.Contains(e.Id)))
        {
            if (entry.At > watch.Cursor)
            {
                watch.Cursor = entry.At;
                watch.SeenAtCursor.Clear();
            }
            watch.SeenAtCursor.Add(entry.Id);
            if (NotificationRules.FromEvent(entry) is { } notification)
                found.Add(notification);
        }
        found.AddRange(NotificationRules.FromStatus(watch.LastStatus, status, now));
        watch.LastStatus = status;

        if (active)
        {
            foreach (var alert in await sender.Send(new ListSyncAlerts(), cancellationToken))
                if (watch.AlertsSeen.Add($"{alert.Source}|{alert.Message}") && NotificationRules.FromAlert(alert, name, now) is { } notification)
                    found.Add(notification);

            var days = settings?.ProductSilentDays ?? 7;
            var since = now.AddDays(-days);
            var silent = await session.Query<ProductInstance>().CountAsync(p => p.LastContactAt < since, cancellationToken);
            if (silent > watch.SilentProducts)
                found.Add(NotificationRules.SilentProducts(silent, days, name, now));
            watch.SilentProducts = silent;

            var certificate = await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken);
            if (certificate is { NotAfter: { } notAfter } && notAfter - now < CertificateWarning && watch.CertificateWarnedFor != notAfter)
            {
                found.Add(NotificationRules.CertificateExpiring(notAfter, certificate.SignedFor ?? certificate.HostCommonName, name, now));
                watch.CertificateWarnedFor = notAfter;
            }

            if (watch.LicensesCheckedAt is not { } checkedAt || now - checkedAt >= LicenseCheckInterval)
            {
                watch.LicensesCheckedAt = now;
                found.AddRange(await OutOfComplianceAsync(name, now, cancellationToken));
            }
        }

        if (!active || settings is null)
            return 0;
        foreach (var notification in found)
            foreach (var channel in Enum.GetValues<NotificationChannel>().Where(settings.Enabled))
                queue.Enqueue(channel, notification);
        return found.Count;
    }

    /// <summary>Licenses that went out of compliance since the last check; one that returns to compliance may notify again later.</summary>
    private async Task<List<Notification>> OutOfComplianceAsync(string node, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var outOf = (await sender.Send(new ListLicenses(), cancellationToken)).Where(l => l.Status == ComplianceStatus.OutOfCompliance).ToList();
        var found = new List<Notification>();
        foreach (var license in outOf.Where(l => !watch.OutOfCompliance.Contains((l.AccountId, l.Tag))))
        {
            var users = (await sender.Send(new ListVirtualAccountLicenses(license.AccountId), cancellationToken))
                .Where(v => v.Tag == license.Tag && v.InUse > 0).Select(v => $"{v.VirtualAccount} ({v.InUse})").ToList();
            found.Add(NotificationRules.OutOfCompliance(license, users, node, now));
        }
        watch.OutOfCompliance.Clear();
        watch.OutOfCompliance.UnionWith(outOf.Select(l => (l.AccountId, l.Tag)));
        return found;
    }
}
