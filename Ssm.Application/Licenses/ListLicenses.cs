using System.Diagnostics;
using System.Text.Json;
using Ssm.Domain.Accounts;
using Ssm.Domain.Licenses;

namespace Ssm.Application.Licenses;

/// <summary>One license tag of an account: bought at CSC against used by its products.</summary>
public sealed record LicenseDto(Guid AccountId, string Account, string Tag, string Name, int Purchased, int InUse, int Available,
    ComplianceStatus Status, DateOnly? StartDate, DateOnly? EndDate, bool Valid, DateTimeOffset? SyncedAt)
{
    public string StatusText => LicenseBalance.Text(Status);
}

/// <summary>
/// Licenses per account and tag: purchased as the last synchronization brought them down, in use as the
/// products' latest usage reports say. A tag in use that was never bought shows with 0 purchased.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListLicenses(Guid? AccountId = null) : IQuery<IReadOnlyList<LicenseDto>>, IAccountScoped, IScopedByHandler
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListLicensesHandler(IQuerySession session, IClock clock, LicenseUsage usage, ICurrentUser user) : IQueryHandler<ListLicenses, IReadOnlyList<LicenseDto>>
{
    // The validation behavior has checked a named account; a list over every account is narrowed here.
    public async ValueTask<IReadOnlyList<LicenseDto>> Handle(ListLicenses query, CancellationToken cancellationToken) =>
        await ListAsync(session, clock, usage, query.AccountId, query.AccountId is null ? user.Accounts : AccountScope.All, cancellationToken);

    public static async Task<IReadOnlyList<LicenseDto>> ListAsync(IQuerySession session, IClock clock, LicenseUsage usage, Guid? accountId,
        AccountScope scope, CancellationToken cancellationToken)
    {
        IQueryable<Entitlement> entitlements = session.Query<Entitlement>();
        if (accountId is { } id)
            entitlements = entitlements.Where(e => e.AccountId == id);
        var bought = (await entitlements.ToListAsync(cancellationToken)).ToDictionary(e => (e.AccountId, e.Tag));
        var used = await usage.InUseAsync(session, accountId, cancellationToken);
        var names = (await session.Query<LocalAccount>().Select(a => new { a.Id, a.Name }).ToListAsync(cancellationToken))
            .ToDictionary(a => a.Id, a => a.Name);
        var today = DateOnly.FromDateTime(clock.UtcNow.UtcDateTime);

        // A user limited to some accounts gets the sum over every account narrowed to theirs.
        return bought.Keys.Union(used.Keys).Where(key => scope.MayRead(key.AccountId)).Select(key =>
            {
                var e = bought.GetValueOrDefault(key);
                var valid = e?.IsValidOn(today) ?? false;
                var balance = new LicenseBalance(key.Tag, valid ? e!.Quantity : 0, used.GetValueOrDefault(key));
                return new LicenseDto(key.AccountId, names.GetValueOrDefault(key.AccountId, "(deleted)"), key.Tag, e?.Name ?? key.Tag,
                    balance.Purchased, balance.InUse, balance.Available, balance.Status, e?.StartDate, e?.EndDate, valid, e?.SyncedAt);
            })
            .OrderBy(l => l.Account).ThenBy(l => l.Name).ToList();
    }
}

/// <summary>
/// License counts in use, summed by PostgreSQL over the products' latest usage per tag. The sum over every account
/// (the dashboard and the Licenses page, refreshed live while products report) is reused for four times as long as
/// it took when it took 100 ms or more: always fresh on a small installation, about 6 s old at most at a million
/// products (1.4 s a sum), instead of one core summing without pause while dashboards are open.
/// </summary>
public sealed class LicenseUsage
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);
    /// <summary>A sum quicker than this is not reused at all.</summary>
    private static readonly TimeSpan Cheap = TimeSpan.FromMilliseconds(100);
    private (Dictionary<(Guid AccountId, string Tag), int> Totals, long At, TimeSpan Took)? _all;

    public async Task<Dictionary<(Guid AccountId, string Tag), int>> InUseAsync(IQuerySession session, Guid? accountId,
        CancellationToken cancellationToken)
    {
        if (accountId is null && _all is { } cached && cached.Took >= Cheap
            && Stopwatch.GetElapsedTime(cached.At) < TimeSpan.FromTicks(Math.Min(MaxAge.Ticks, 4 * cached.Took.Ticks)))
            return cached.Totals;
        var started = Stopwatch.GetTimestamp();
        var totals = await SumAsync(session, accountId, cancellationToken);
        if (accountId is null)
            _all = (totals, started, Stopwatch.GetElapsedTime(started));
        return totals;
    }

    private static async Task<Dictionary<(Guid AccountId, string Tag), int>> SumAsync(IQuerySession session, Guid? accountId,
        CancellationToken cancellationToken)
    {
        // From the narrow usage documents, not the instances (whose certificates make each one a TOASTed 2 KB):
        // summing over the instances took 6 s at a million products. The filter is the account index's expression.
        var filter = accountId is null ? "" : "where (d.data ->> 'AccountId')::uuid = ?::uuid";
        object[] parameters = accountId is { } id ? [id.ToString()] : [];
        var rows = await session.AdvancedSql.QueryAsync<string>($"""
            select json_build_array(r."AccountId", u ->> 'Tag', sum((u ->> 'Count')::bigint))::text
            from ssm.mt_doc_productusage d, jsonb_to_record(d.data) as r("AccountId" text, "Usage" jsonb),
                 jsonb_array_elements(r."Usage") u {filter}
            group by r."AccountId", u ->> 'Tag'
            """, cancellationToken, parameters);
        return rows.Select(r => JsonDocument.Parse(r).RootElement).ToDictionary(
            r => (Guid.Parse(r[0].GetString()!), r[1].GetString()!), r => (int)Math.Min(int.MaxValue, r[2].GetInt64()));
    }
}
