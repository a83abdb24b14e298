using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Accounts;
using Ssm.Domain.Licenses;

namespace Ssm.Application.Licenses;

public sealed record LicenseDto(Guid AccountId, string Account, string Tag, string Name, int Purchased, DateOnly StartDate, DateOnly EndDate,
    bool Valid, DateTimeOffset SyncedAt);

/// <summary>Licenses as purchased at CSC, per account (usage arrives with product registration).</summary>
public sealed record ListLicenses(Guid? AccountId = null) : IQuery<IReadOnlyList<LicenseDto>>;

public sealed class ListLicensesHandler(IQuerySession session, IClock clock) : IQueryHandler<ListLicenses, IReadOnlyList<LicenseDto>>
{
    public async ValueTask<IReadOnlyList<LicenseDto>> Handle(ListLicenses query, CancellationToken cancellationToken)
    {
        IQueryable<Entitlement> entitlements = session.Query<Entitlement>();
        if (query.AccountId is { } id)
            entitlements = entitlements.Where(e => e.AccountId == id);
        var rows = await entitlements.ToListAsync(cancellationToken);
        var names = (await session.Query<LocalAccount>().Select(a => new { a.Id, a.Name }).ToListAsync(cancellationToken))
            .ToDictionary(a => a.Id, a => a.Name);
        var today = DateOnly.FromDateTime(clock.UtcNow.UtcDateTime);
        return rows.Select(e => new LicenseDto(e.AccountId, names.GetValueOrDefault(e.AccountId, "(deleted)"), e.Tag, e.Name, e.Quantity,
                e.StartDate, e.EndDate, e.IsValidOn(today), e.SyncedAt))
            .OrderBy(l => l.Account).ThenBy(l => l.Name).ToList();
    }
}
