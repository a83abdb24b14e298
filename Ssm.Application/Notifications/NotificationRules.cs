using Ssm.Application.Ha;
using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain.Events;
using Ssm.Domain.Nodes;

namespace Ssm.Application.Notifications;

/// <summary>Which events notify, and what each notification says: what happened, on which node, what to do.</summary>
public static class NotificationRules
{
    /// <summary>An Event Log entry that notifies: failovers, takeovers and teardowns, a failed synchronization or scheduled backup.</summary>
    public static Notification? FromEvent(EventLogEntry e) => (e.Category, e.Action, e.Outcome) switch
    {
        (EventCategory.Cluster, "Failover", _) => new("Failover", NotificationSeverity.Warning, $"Failover: {e.Actor} became the active node ({e.Detail}).",
            e.Actor, "Find out why the other node stopped serving (ha_status, its log). Once it is repaired, run ha_cluster_start on it: " +
                     "it rejoins as standby, and replication is synchronous again.", e.At),
        (EventCategory.Cluster, "Takeover", _) => new("Takeover", NotificationSeverity.Warning, $"{e.Actor} took over as the active node ({e.Detail}).",
            e.Actor, "Check that the other node is stopped or repaired (ha_status), then run ha_cluster_start on it to rejoin it as standby.", e.At),
        (EventCategory.Cluster, "Teardown", _) => new("Teardown", NotificationSeverity.Notice, $"The cluster was torn down on {e.Actor}: {e.Detail}.",
            e.Actor, "The node serves alone now. To build a cluster again, start a fresh secondary and run ha_deploy.", e.At),
        (EventCategory.Sync, _, EventOutcome.Failure) => new("SyncFailed", NotificationSeverity.Error, $"CSC synchronization failed ({e.Subject}): {e.Detail}",
            e.Actor, "Check that CSC is reachable and the account's token is valid (Synchronization page); the schedule retries on its own.", e.At),
        (EventCategory.Cluster, Backups.BackupRunner.ScheduledAction, EventOutcome.Failure) => new("BackupFailed", NotificationSeverity.Error,
            $"The scheduled backup {e.Subject} failed {e.Detail}", e.Actor,
            "Check the backup folder's disk space and permissions on that node (Backups page), then press \"Back up now\"; " +
            "the schedule tries again at its next time.", e.At),
        _ => null,
    };

    /// <summary>What changed for the worse between two looks at the cluster from its active node.</summary>
    public static IEnumerable<Notification> FromStatus(HaStatus? before, HaStatus now, DateTimeOffset at)
    {
        if (before is null || !before.Deployed || !now.Deployed || now.Self.Role != NodeRole.Active)
            yield break;
        var node = now.Self.Name;
        var peer = now.Peer?.Name ?? "the standby";
        if (before.Heartbeat.Connected && !now.Heartbeat.Connected)
            yield return new("StandbyLost", NotificationSeverity.Error, $"Standby lost: no heartbeat from {peer}.", node,
                $"Check {peer} (is `ssm node` running, can it reach {node}?). Until it rejoins, the cluster cannot fail over.", at);
        if (before.Replication.Mode == ReplicationMode.Sync && now.Replication.Mode == ReplicationMode.Async)
            yield return new("ReplicationAsync", NotificationSeverity.Warning, "Replication degraded to asynchronous: the standby no longer confirms each write.",
                node, $"Bring {peer} back (ha_cluster_start on it); replication turns synchronous again once it has caught up.", at);
        if (before.Witness.Reachable == true && now.Witness.Reachable == false)
            yield return new("WitnessUnreachable", NotificationSeverity.Error, "The witness is unreachable.", node,
                "Check the witness host and the network to it: without it a crashed active is not taken over automatically.", at);
    }

    /// <summary>A synchronization alert that notifies: an expired or expiring CSC token, a rejected activation.</summary>
    public static Notification? FromAlert(SyncAlert alert, string node, DateTimeOffset at) =>
        alert.Source == "Synchronization" ? null // a failed run notifies through its Event Log entry
        : alert.Message.Contains("expired") ? new("CscTokenExpired", NotificationSeverity.Error, alert.Message, node,
            "Re-authenticate the account with CSC (Accounts → Re-authenticate).", at)
        : alert.Message.Contains("expires") ? new("CscTokenExpiring", NotificationSeverity.Warning, alert.Message, node,
            "Re-authenticate the account with CSC before then (Accounts → Re-authenticate).", at)
        : new("CscAlert", NotificationSeverity.Warning, alert.Message, node, "See the Synchronization page.", at);

    public static Notification SilentProducts(long count, int days, string node, DateTimeOffset at) =>
        new("ProductsNotReporting", NotificationSeverity.Warning, $"{count} product instance(s) have not reported for {days} days or more.", node,
            "Check those products' network path to the VIP (Product Instances, sorted by last contact); remove instances that are gone.", at);

    public static Notification CertificateExpiring(DateTimeOffset notAfter, string host, string node, DateTimeOffset at) =>
        new("CertificateExpiring", notAfter <= at ? NotificationSeverity.Error : NotificationSeverity.Warning,
            notAfter <= at ? $"The server certificate for {host} expired on {notAfter:u}." : $"The server certificate for {host} expires on {notAfter:u}.",
            node, "Synchronize with CSC (Synchronization page): CSC signs a new certificate for the Host Common Name.", at);

    /// <param name="users">The virtual accounts using the license, with their counts.</param>
    public static Notification OutOfCompliance(LicenseDto license, IReadOnlyList<string> users, string node, DateTimeOffset at) =>
        new("LicenseOutOfCompliance", NotificationSeverity.Warning,
            $"License {license.Name} ({license.Tag}) of account {license.Account} is out of compliance: {license.InUse} in use, " +
            $"{license.Purchased} purchased{(license.Valid || license.StartDate is null ? "" : $" (bought for {license.StartDate:yyyy-MM-dd} to {license.EndDate:yyyy-MM-dd})")}" +
            (users.Count > 0 ? $"; used in virtual account(s) {string.Join(", ", users)}." : "."),
            node, "Buy more of this license in Cisco Software Central and synchronize (Synchronization page), or free some: " +
                  "deregister or reconfigure products of the account (Licenses and Product Instances pages).", at);
}
