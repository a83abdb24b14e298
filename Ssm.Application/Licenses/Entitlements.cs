using Ssm.Application.Sync;
using Ssm.Domain.Licenses;

namespace Ssm.Application.Licenses;

public static class Entitlements
{
    /// <summary>Replaces what an account owns with what CSC says it owns (online sync and offline response alike).</summary>
    public static void Replace(IDocumentSession session, Guid accountId, IReadOnlyList<EntitlementInfo> owned, DateTimeOffset now)
    {
        session.DeleteWhere<Entitlement>(e => e.AccountId == accountId);
        foreach (var e in owned)
            session.Store(new Entitlement
            {
                Id = Entitlement.IdOf(accountId, e.Tag), AccountId = accountId, Tag = e.Tag, Name = e.Name, Quantity = e.Quantity,
                StartDate = e.StartDate, EndDate = e.EndDate, SyncedAt = now,
            });
    }
}
