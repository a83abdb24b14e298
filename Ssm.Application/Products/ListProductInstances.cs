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

public sealed record ProductInstancePage(IReadOnlyList<ProductInstanceRow> Items, long Total, TotalKind TotalKind, int PageNumber, int PageSize)
{
    /// <summary>Asks for the page after this one (<see cref="ListProductInstances.After"/>); null on the last page.</summary>
    public string? Next { get; init; }

    /// <summary>Asks for the page before this one (<see cref="ListProductInstances.Before"/>); null on the first page.</summary>
    public string? Previous { get; init; }
}

/// <summary>
/// Product instances, optionally of one account and one of its virtual accounts, whose name, PID or serial number
/// contains the search text. Paged by the sort key (decision 0034): <see cref="After"/>/<see cref="Before"/> take the
/// <see cref="ProductInstancePage.Next"/>/<see cref="ProductInstancePage.Previous"/> of the page shown.
/// </summary>
[Sender(SenderRole.Viewer)]
public sealed record ListProductInstances(Guid? AccountId = null, string? Search = null, ProductSort SortBy = ProductSort.Name,
    bool Descending = false, int PageNumber = 1, int PageSize = 20, Guid? VirtualAccountId = null, string? After = null,
    string? Before = null, bool Last = false) : IQuery<ProductInstancePage>, ISeekPaged, IAccountScoped, IScopedByHandler
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListProductInstancesValidator : AbstractValidator<ListProductInstances>
{
    public ListProductInstancesValidator()
    {
        this.AddSeekRules(x => ProductSeek.Keys(x.SortBy).Count);
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

        // Sorting by an indexed field lets PostgreSQL read the page straight off the index, and seeking by its key
        // starts the read at the page, however deep.
        var (read, pageNumber, previous, next) = await Seek.PageAsync(instances, query, query.Descending, ProductSeek.Keys(query.SortBy),
            (rows, backward) => ProductSeek.Order(rows, query.SortBy, query.Descending != backward),
            rows => rows.Select(p => new { p.Id, p.AccountId, p.VirtualAccountId, p.Name, p.Pid, p.SerialNumber, p.RegisteredAt, p.LastContactAt }),
            p => ProductSeek.CursorOf(query.SortBy, p.Id, p.Name, p.Pid, p.SerialNumber, p.RegisteredAt, p.LastContactAt), cancellationToken);
        var rows = read
            .Select(p => new ProductInstanceRow(p.Id, p.AccountId, p.Name, p.Pid, p.SerialNumber, ProductInstance.UdiOf(p.Pid, p.SerialNumber), p.RegisteredAt,
                p.LastContactAt)
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
            total, kind, pageNumber, query.PageSize) { Next = next, Previous = previous };
    }

    private static async Task<(long Total, TotalKind Kind)> CountUpToAsync(IQueryable<ProductInstance> instances, int limit,
        CancellationToken cancellationToken)
    {
        // Marten puts a Take after count(*), where it limits nothing: fetching the ids is what stops at the limit.
        var counted = (await instances.Select(p => p.Id).Take(limit + 1).ToListAsync(cancellationToken)).Count;
        return counted > limit ? (limit, TotalKind.AtLeast) : (counted, TotalKind.Exact);
    }
}

/// <summary>The sorts of the Product Instances page as keys to seek by: each reads one index, the id breaks ties.</summary>
internal static class ProductSeek
{
    private static readonly SeekKey[] Name = [SeekKey.Text(ProductInstance.Keys.Name)];
    private static readonly SeekKey[] PidSerial = [SeekKey.Text(ProductInstance.Keys.Pid), SeekKey.Text(ProductInstance.Keys.SerialNumber)];
    private static readonly SeekKey[] Serial = [SeekKey.Text(ProductInstance.Keys.SerialNumber)];
    // An instance's id is a version 7 UUID of its registration time (RegisterProduct): registration order is id
    // order, which the primary key answers without an index on RegisteredAt (decision 0035).
    private static readonly SeekKey[] Registered = [];
    private static readonly SeekKey[] Contact = [SeekKey.Timestamp(ProductInstance.Keys.LastContactAt)];

    public static IReadOnlyList<SeekKey> Keys(ProductSort sort) => sort switch
    {
        ProductSort.Pid => PidSerial,
        ProductSort.SerialNumber => Serial,
        ProductSort.RegisteredAt => Registered,
        ProductSort.LastContactAt => Contact,
        _ => Name,
    };

    public static IQueryable<ProductInstance> Order(IQueryable<ProductInstance> instances, ProductSort sort, bool descending) => (sort, descending) switch
    {
        (ProductSort.Pid, false) => instances.OrderBy(p => p.Pid).ThenBy(p => p.SerialNumber).ThenBy(p => p.Id),
        (ProductSort.Pid, true) => instances.OrderByDescending(p => p.Pid).ThenByDescending(p => p.SerialNumber).ThenByDescending(p => p.Id),
        (ProductSort.SerialNumber, false) => instances.OrderBy(p => p.SerialNumber).ThenBy(p => p.Id),
        (ProductSort.SerialNumber, true) => instances.OrderByDescending(p => p.SerialNumber).ThenByDescending(p => p.Id),
        (ProductSort.RegisteredAt, false) => instances.OrderBy(p => p.Id),
        (ProductSort.RegisteredAt, true) => instances.OrderByDescending(p => p.Id),
        (ProductSort.LastContactAt, false) => instances.OrderBy(p => p.LastContactAt).ThenBy(p => p.Id),
        (ProductSort.LastContactAt, true) => instances.OrderByDescending(p => p.LastContactAt).ThenByDescending(p => p.Id),
        (_, false) => instances.OrderBy(p => p.Name).ThenBy(p => p.Id),
        (_, true) => instances.OrderByDescending(p => p.Name).ThenByDescending(p => p.Id),
    };

    public static PageCursor CursorOf(ProductSort sort, Guid id, string name, string pid, string serial, DateTimeOffset registeredAt,
        DateTimeOffset lastContactAt) => sort switch
    {
        ProductSort.Pid => new([pid, serial], id),
        ProductSort.SerialNumber => new([serial], id),
        ProductSort.RegisteredAt => new([], id),
        ProductSort.LastContactAt => new([PageCursor.Text(lastContactAt)], id),
        _ => new([name], id),
    };
}

/// <summary>
/// How many product instances there are, without counting a million rows (170 ms at a million, and growing with
/// the table): from <see cref="ExactBelow"/> on, the answer is the planner's estimate.
/// </summary>
public static class ProductInstanceCount
{
    public const long ExactBelow = TableCount.ExactBelow;
    public const int SearchCountLimit = 1_000;

    public static async Task<(long Total, TotalKind Kind)> TotalAsync(IQuerySession session, CancellationToken cancellationToken)
    {
        var (total, estimated) = await TableCount.TotalAsync(session, "ssm.mt_doc_productinstance", session.Query<ProductInstance>(), cancellationToken);
        return (total, estimated ? TotalKind.Estimate : TotalKind.Exact);
    }
}
