using Ssm.Domain.Accounts;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

public enum AlertSeverity
{
    Minor,
    Major,
}

public sealed record SyncAlert(AlertSeverity Severity, string Source, string Message, DateTimeOffset Time, Guid? AccountId);

/// <summary>
/// What needs the operator: expired or soon-expiring CSC tokens, rejected activations, a last run that
/// failed. An expired token is never a silent stop of synchronization.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListSyncAlerts : IQuery<IReadOnlyList<SyncAlert>>, IScopedByHandler;

public sealed class ListSyncAlertsHandler(IQuerySession session, IClock clock, ICurrentUser user) : IQueryHandler<ListSyncAlerts, IReadOnlyList<SyncAlert>>
{
    public static readonly TimeSpan ExpiryWarning = TimeSpan.FromDays(14);

    public async ValueTask<IReadOnlyList<SyncAlert>> Handle(ListSyncAlerts query, CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var alerts = new List<SyncAlert>();
        var accounts = await session.Query<LocalAccount>()
            .Where(a => a.Status == AccountStatus.Active || a.Status == AccountStatus.Rejected).ToListAsync(cancellationToken);
        foreach (var a in accounts)
        {
            if (a.TokenExpired(now))
                alerts.Add(new SyncAlert(AlertSeverity.Major, a.Name,
                    $"The CSC access token of '{a.Name}' expired on {a.TokenExpiresAt:u}: synchronization of this account is stopped until an admin re-authenticates it (Accounts → Re-authenticate).",
                    a.TokenExpiresAt!.Value, a.Id));
            else if (a.Status == AccountStatus.Active && a.TokenExpiresAt is { } expires && expires - now < ExpiryWarning)
                alerts.Add(new SyncAlert(AlertSeverity.Minor, a.Name,
                    $"The CSC access token of '{a.Name}' expires on {expires:u}; re-authenticate before then.", now, a.Id));
            else if (a.Status == AccountStatus.Rejected)
                alerts.Add(new SyncAlert(AlertSeverity.Minor, a.Name, $"CSC rejected the activation of '{a.Name}': {a.RejectionReason}", a.UpdatedAt, a.Id));
        }
        var last = await session.Query<SyncRun>().Where(r => r.Result != SyncResult.Running)
            .OrderByDescending(r => r.StartedAt).FirstOrDefaultAsync(cancellationToken);
        if (last is { Result: SyncResult.Failed })
            alerts.Add(new SyncAlert(AlertSeverity.Major, "Synchronization",
                $"The last synchronization ({last.Scope}, {last.StartedAt:u}) failed: {last.Error}", last.EndedAt ?? last.StartedAt, last.AccountId));
        // A user limited to some accounts sees theirs and the node's own (a failed run over every account), as an API client always did.
        return alerts.Where(a => a.AccountId is not { } id || user.Accounts.MayRead(id)).OrderByDescending(a => a.Severity).ThenByDescending(a => a.Time).ToList();
    }
}
