using FluentValidation;
using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Accounts;
using Ssm.Domain.Products;

namespace Ssm.Application.Products;

public enum ProductSort
{
    Name,
    Pid,
    SerialNumber,
    RegisteredAt,
    LastContactAt,
}

/// <summary>One line of the product instances table: only what the table shows, never the certificate.</summary>
public sealed record ProductInstanceRow(Guid Id, Guid AccountId, string Name, string Pid, string SerialNumber, string Udi,
    DateTimeOffset RegisteredAt, DateTimeOffset LastContactAt)
{
    public string Account { get; init; } = "";
    public Guid VirtualAccountId { get; init; }
    public string VirtualAccount { get; init; } = "";
}

public enum TotalKind
{
    Exact,
    /// <summary>PostgreSQL's estimate of a large table.</summary>
    Estimate,
    /// <summary>More match than were counted: the total is where counting stopped.</summary>
    AtLeast,
}

public sealed record ProductInstancePage(IReadOnlyList<ProductInstanceRow> Items, long Total, TotalKind TotalKind, int PageNumber, int PageSize);

/// <summary>
/// Product instances, optionally of one account and one of its virtual accounts, whose name, PID or serial number
/// contains the search text.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListProductInstances(Guid? AccountId = null, string? Search = null, ProductSort SortBy = ProductSort.Name,
    bool Descending = false, int PageNumber = 1, int PageSize = 20, Guid? VirtualAccountId = null) : IQuery<ProductInstancePage>, IPaged, IAccountScoped, IScopedByHandler
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListProductInstancesValidator : AbstractValidator<ListProductInstances>
{
    public ListProductInstancesValidator()
    {
        this.AddPagingRules();
        RuleFor(x => x.Search).MaximumLength(ProductInstance.NameMaxLength);
        RuleFor(x => x.SortBy).IsInEnum();
        // The (account, virtual account) index answers the filter only with its account.
        RuleFor(x => x.AccountId).NotNull().When(x => x.VirtualAccountId is not null).WithMessage("Choose the account of the virtual account.");
    }
}

public sealed class ListProductInstancesHandler(IQuerySession session, ICurrentUser user) : IQueryHandler<ListProductInstances, ProductInstancePage>
{
    public async ValueTask<ProductInstancePage> Handle(ListProductInstances query, CancellationToken cancellationToken)
    {
        IQueryable<ProductInstance> instances = session.Query<ProductInstance>();
        if (query.AccountId is { } accountId)
            instances = query.VirtualAccountId is { } virtualAccountId
                ? instances.Where(p => p.AccountId == accountId && p.VirtualAccountId == virtualAccountId)
                : instances.Where(p => p.AccountId == accountId);
        else if (!user.Accounts.IsAll)
        {
            var reachable = user.Accounts.AccountIds.ToArray();
            instances = instances.Where(p => reachable.Contains(p.AccountId));
        }
        var search = query.Search?.Trim();
        if (!string.IsNullOrEmpty(search))
            instances = instances.Where(p => p.Name.Contains(search, StringComparison.OrdinalIgnoreCase)
                                             || p.Pid.Contains(search, StringComparison.OrdinalIgnoreCase)
                                             || p.SerialNumber.Contains(search, StringComparison.OrdinalIgnoreCase));

        // Sorting by an indexed field lets PostgreSQL read the page straight off the index.
        var sorted = (query.SortBy, query.Descending) switch
        {
            (ProductSort.Pid, false) => instances.OrderBy(p => p.Pid).ThenBy(p => p.SerialNumber),
            (ProductSort.Pid, true) => instances.OrderByDescending(p => p.Pid).ThenByDescending(p => p.SerialNumber),
            (ProductSort.SerialNumber, false) => instances.OrderBy(p => p.SerialNumber),
            (ProductSort.SerialNumber, true) => instances.OrderByDescending(p => p.SerialNumber),
            (ProductSort.RegisteredAt, false) => instances.OrderBy(p => p.RegisteredAt),
            (ProductSort.RegisteredAt, true) => instances.OrderByDescending(p => p.RegisteredAt),
            (ProductSort.LastContactAt, false) => instances.OrderBy(p => p.LastContactAt),
            (ProductSort.LastContactAt, true) => instances.OrderByDescending(p => p.LastContactAt),
            (_, false) => instances.OrderBy(p => p.Name),
            (_, true) => instances.OrderByDescending(p => p.Name),
        };
        var rows = (await sorted.ThenBy(p => p.Id)
            .Skip((query.PageNumber - 1) * query.PageSize).Take(query.PageSize)
            .Select(p => new { p.Id, p.AccountId, p.VirtualAccountId, p.Name, p.Pid, p.SerialNumber, p.Udi, p.RegisteredAt, p.LastContactAt })
            .ToListAsync(cancellationToken))
            .Select(p => new ProductInstanceRow(p.Id, p.AccountId, p.Name, p.Pid, p.SerialNumber, p.Udi, p.RegisteredAt, p.LastContactAt)
            {
                VirtualAccountId = p.VirtualAccountId,
            })
            .ToList();

        // A count re-checks every matching row's JSON: a broad search stops counting at a limit. An account's
        // instances are counted off its index, without reading their JSON.
        var (total, kind) = !string.IsNullOrEmpty(search) ? await CountUpToAsync(instances, ProductInstanceCount.SearchCountLimit, cancellationToken)
            : query.AccountId is not null || !user.Accounts.IsAll ? (await instances.CountAsync(cancellationToken), TotalKind.Exact)
            : await ProductInstanceCount.TotalAsync(session, cancellationToken);

        var accountIds = rows.Select(r => r.AccountId).Distinct().ToList();
        var names = accountIds.Count == 0
            ? []
            : (await session.Query<LocalAccount>().Where(a => accountIds.Contains(a.Id)).Select(a => new { a.Id, a.Name })
                .ToListAsync(cancellationToken)).ToDictionary(a => a.Id, a => a.Name);
        var virtualAccountIds = rows.Select(r => r.VirtualAccountId).Distinct().ToList();
        var virtualNames = virtualAccountIds.Count == 0
            ? []
            : (await session.Query<VirtualAccount>().Where(v => virtualAccountIds.Contains(v.Id)).Select(v => new { v.Id, v.Name })
                .ToListAsync(cancellationToken)).ToDictionary(v => v.Id, v => v.Name);
        return new ProductInstancePage(rows.Select(r => r with
            {
                Account = names.GetValueOrDefault(r.AccountId, "(deleted)"),
                VirtualAccount = virtualNames.GetValueOrDefault(r.VirtualAccountId, "(deleted)"),
            }).ToList(),
            total, kind, query.PageNumber, query.PageSize);
    }

    private static async Task<(long Total, TotalKind Kind)> CountUpToAsync(IQueryable<ProductInstance> instances, int limit,
        CancellationToken cancellationToken)
    {
        // Marten puts a Take after count(*), where it limits nothing: fetching the ids is what stops at the limit.
        var counted = (await instances.Select(p => p.Id).Take(limit + 1).ToListAsync(cancellationToken)).Count;
        return counted > limit ? (limit, TotalKind.AtLeast) : (counted, TotalKind.Exact);
    }
}

/// <summary>
/// How many product instances there are, without counting a million rows (170 ms at a million, and growing with
/// the table): from <see cref="ExactBelow"/> on, the answer is the planner's estimate.
/// </summary>
public static class ProductInstanceCount
{
    public const long ExactBelow = 100_000;
    public const int SearchCountLimit = 1_000;

    public static async Task<(long Total, TotalKind Kind)> TotalAsync(IQuerySession session, CancellationToken cancellationToken)
    {
        // The planner's own arithmetic: rows per page from the last ANALYZE, times the pages the table has now.
        var estimate = (await session.AdvancedSql.QueryAsync<long>("""
            select case when c.reltuples < 0 or c.relpages = 0 then -1
                        else (c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int))::bigint end
            from pg_class c where c.oid = 'ssm.mt_doc_productinstance'::regclass
            """, cancellationToken)).Single();
        return estimate >= ExactBelow
            ? (estimate, TotalKind.Estimate)
            : (await session.Query<ProductInstance>().CountAsync(cancellationToken), TotalKind.Exact);
    }
}
