using System.Text.Json;

namespace Ssm.Application.Licenses;

public sealed record DailyUsage(DateOnly Day, int InUse);

/// <summary>
/// Licenses of one tag an account used per UTC day, the last <see cref="Days"/> days up to today: per day, the sum
/// over its products of the most each product reported for a window that overlaps the day.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record LicenseUsageOverTime(Guid AccountId, string Tag, int Days = 30) : IQuery<IReadOnlyList<DailyUsage>>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
    public const int MaxDays = 366;
}

public sealed class LicenseUsageOverTimeValidator : AbstractValidator<LicenseUsageOverTime>
{
    public LicenseUsageOverTimeValidator()
    {
        RuleFor(x => x.AccountId).NotEmpty();
        RuleFor(x => x.Tag).NotEmpty().MaximumLength(200);
        RuleFor(x => x.Days).InclusiveBetween(1, LicenseUsageOverTime.MaxDays);
    }
}

public sealed class LicenseUsageOverTimeHandler(IQuerySession session, IClock clock) : IQueryHandler<LicenseUsageOverTime, IReadOnlyList<DailyUsage>>
{
    public async ValueTask<IReadOnlyList<DailyUsage>> Handle(LicenseUsageOverTime query, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(clock.UtcNow.UtcDateTime);
        var first = today.AddDays(1 - query.Days);
        var start = new DateTimeOffset(first.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var end = start.AddDays(query.Days);
        // Days of 24 hours from UTC midnight (not '1 day', which follows the server's time zone across DST);
        // days without a report are rows too (0), so the chart has no gaps.
        var rows = await session.AdvancedSql.QueryAsync<string>("""
            with days as (
                select ?::timestamptz + i * interval '24 hours' as day_start, ?::timestamptz + (i + 1) * interval '24 hours' as day_end
                from generate_series(0, ? - 1) i),
            reports as (
                select data ->> 'InstanceId' as instance, (data ->> 'Count')::int as count,
                       (data ->> 'From')::timestamptz as window_start, (data ->> 'To')::timestamptz as window_end
                from ssm.mt_doc_usagerecord
                where data ->> 'AccountId' = ? and data ->> 'Tag' = ?
                  and (data ->> 'From')::timestamptz < ?::timestamptz and (data ->> 'To')::timestamptz > ?::timestamptz),
            per_instance as (
                select days.day_start, r.instance, max(r.count) as most
                from days join reports r on r.window_start < days.day_end and r.window_end > days.day_start
                group by days.day_start, r.instance)
            select json_build_array(to_char(days.day_start at time zone 'UTC', 'YYYY-MM-DD'), coalesce(sum(p.most), 0))::text
            from days left join per_instance p on p.day_start = days.day_start
            group by days.day_start order by days.day_start
            """, cancellationToken, start, start, query.Days, query.AccountId.ToString(), query.Tag, end, start);
        return rows.Select(r => JsonDocument.Parse(r).RootElement)
            .Select(r => new DailyUsage(DateOnly.ParseExact(r[0].GetString()!, "yyyy-MM-dd"), (int)Math.Min(int.MaxValue, r[1].GetInt64())))
            .ToList();
    }
}
