using System.Buffers.Text;
using System.Text.Json;
using Marten.Linq.MatchesSql;

namespace Ssm.Application.Common;

public sealed record Page<T>(IReadOnlyList<T> Items, long Total, int PageNumber, int PageSize)
{
    public int PageCount => (int)Math.Max(1, (Total + PageSize - 1) / PageSize);

    /// <summary>The total is PostgreSQL's estimate of a large table, not a count.</summary>
    public bool Estimated { get; init; }

    /// <summary>Asks for the page after this one (<see cref="ISeekPaged.After"/>); null on the last page.</summary>
    public string? Next { get; init; }

    /// <summary>Asks for the page before this one (<see cref="ISeekPaged.Before"/>); null on the first page.</summary>
    public string? Previous { get; init; }
}

public interface IPaged
{
    int PageNumber { get; }
    int PageSize { get; }
}

/// <summary>
/// A list paged by its sort key (keyset or seek paging, decision 0034): the page after a row (<see cref="After"/>),
/// the page before one (<see cref="Before"/>), or the last page (<see cref="Last"/>) costs the same at any depth.
/// Without any of them <see cref="IPaged.PageNumber"/> counts rows from the start (OFFSET), which costs the rows
/// skipped: the pages use it only for the first page. The page number is carried along so that a page can say
/// which it is.
/// </summary>
public interface ISeekPaged : IPaged
{
    string? After { get; }
    string? Before { get; }
    bool Last { get; }
}

public static class PagingRules
{
    public const int MaxPageSize = 100;

    public static void AddPagingRules<T>(this AbstractValidator<T> validator) where T : IPaged
    {
        validator.RuleFor(x => x.PageNumber).GreaterThanOrEqualTo(1);
        validator.RuleFor(x => x.PageSize).InclusiveBetween(1, MaxPageSize);
    }

    /// <summary>A cursor is one this list handed out for the same sort (<paramref name="keys"/> keys and an id), and only one way is asked for.</summary>
    public static void AddSeekRules<T>(this AbstractValidator<T> validator, Func<T, int> keys) where T : ISeekPaged
    {
        validator.AddPagingRules();
        validator.RuleFor(x => x).Must(x => (x.After is null ? 0 : 1) + (x.Before is null ? 0 : 1) + (x.Last ? 1 : 0) <= 1)
            .WithName("After").WithMessage("Ask for the page after a row, the page before one, or the last page: one of them.");
        validator.RuleFor(x => x.After).Must((x, c) => PageCursor.Decode(c, keys(x)) is not null).When(x => x.After is not null)
            .WithMessage("The cursor is not one this list handed out for this sort; start from the first page.");
        validator.RuleFor(x => x.Before).Must((x, c) => PageCursor.Decode(c, keys(x)) is not null).When(x => x.Before is not null)
            .WithMessage("The cursor is not one this list handed out for this sort; start from the first page.");
    }
}

/// <summary>
/// A row's place in a sorted list: its sort key(s) as text and its id, base64url of a JSON array. It carries
/// values only, never SQL: the query binds them as parameters.
/// </summary>
public sealed record PageCursor(IReadOnlyList<string> Keys, Guid Id)
{
    public const int MaxLength = 1024;

    public string Encode() => Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes<string[]>([.. Keys, Id.ToString("N")]));

    public static PageCursor? Decode(string? cursor, int keys)
    {
        if (string.IsNullOrEmpty(cursor) || cursor.Length > MaxLength)
            return null;
        try
        {
            var parts = JsonSerializer.Deserialize<string[]>(Base64Url.DecodeFromChars(cursor));
            return parts is not null && parts.Length == keys + 1 && parts.All(p => p is not null)
                   && Guid.TryParseExact(parts[^1], "N", out var id)
                ? new PageCursor(parts[..^1], id)
                : null;
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }
    }

    /// <summary>How a timestamp key is written: the digits System.Text.Json stores, so PostgreSQL reads both alike.</summary>
    public static string Text(DateTimeOffset at) => at.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One sort key of a seek: its SQL over the document (alias d) and how its bound text becomes a comparable value.</summary>
public sealed record SeekKey(string Sql, string Parameter = "?")
{
    public static SeekKey Text(string member) => new($"d.data ->> '{member}'");
    public static SeekKey Timestamp(string member) => new($"ssm.mt_immutable_timestamptz(d.data ->> '{member}')", "ssm.mt_immutable_timestamptz(?)");
}

public static class Seek
{
    /// <summary>
    /// The rows after (or before) <paramref name="cursor"/> in the order of <paramref name="keys"/> then id. The
    /// leading key's own bound (k1 &gt;= v1) is what lets PostgreSQL start the index scan at the cursor; the row
    /// comparison then drops the rows of equal key up to and including the cursor's.
    /// </summary>
    public static IQueryable<T> Beyond<T>(this IQueryable<T> rows, IReadOnlyList<SeekKey> keys, PageCursor cursor, bool greater) where T : notnull
    {
        var op = greater ? ">" : "<";
        if (keys.Count == 0)
            return rows.Where(x => x.MatchesSql($"d.id {op} ?", cursor.Id));
        var sql = $"{keys[0].Sql} {op}= {keys[0].Parameter} and ({string.Join(", ", keys.Select(k => k.Sql))}, d.id) {op} "
                  + $"({string.Join(", ", keys.Select(k => k.Parameter))}, ?)";
        object[] parameters = [cursor.Keys[0], .. cursor.Keys, cursor.Id];
        return rows.Where(x => x.MatchesSql(sql, parameters));
    }

    /// <summary>
    /// Reads a page the way <paramref name="request"/> asks: <paramref name="order"/> sorts rows forward (or, given
    /// true, backward) and <paramref name="keys"/> names their sort keys. Returns the page in display order with the
    /// cursors of the pages either side.
    /// </summary>
    public static async Task<(IReadOnlyList<TRow> Rows, int PageNumber, string? Previous, string? Next)> PageAsync<T, TRow>(
        IQueryable<T> rows, ISeekPaged request, bool descending, IReadOnlyList<SeekKey> keys, Func<IQueryable<T>, bool, IQueryable<T>> order,
        Func<IQueryable<T>, IQueryable<TRow>> select, Func<TRow, PageCursor> cursorOf, CancellationToken cancellationToken) where T : notnull where TRow : notnull
    {
        var after = PageCursor.Decode(request.After, keys.Count);
        var before = PageCursor.Decode(request.Before, keys.Count);
        var backward = before is not null || request.Last;
        if (after is not null)
            rows = rows.Beyond(keys, after, greater: !descending);
        else if (before is not null)
            rows = rows.Beyond(keys, before, greater: descending);
        var ordered = order(rows, backward);
        if (after is null && before is null && !request.Last && request.PageNumber > 1)
            ordered = ordered.Skip((request.PageNumber - 1) * request.PageSize);
        var read = (await select(ordered.Take(request.PageSize + 1)).ToListAsync(cancellationToken)).ToList();
        var more = read.Count > request.PageSize;
        if (more)
            read.RemoveAt(read.Count - 1);
        if (backward)
            read.Reverse();
        string? Cursor(TRow row) => cursorOf(row).Encode();
        var first = read.Count > 0 ? Cursor(read[0]) : null;
        var last = read.Count > 0 ? Cursor(read[^1]) : null;
        var (previous, next) = backward
            ? (more ? first : null, request.Last ? null : last)
            : (after is not null || request.PageNumber > 1 ? first : null, more ? last : null);
        // Back at the start the page is the first, whatever number the caller counted to.
        var pageNumber = previous is null ? 1 : request.PageNumber;
        return (read, pageNumber, previous, next);
    }
}

/// <summary>
/// How many rows a table has, without counting a million of them (170 ms at a million, and growing with the
/// table): from <see cref="ExactBelow"/> on, the answer is the planner's estimate.
/// </summary>
public static class TableCount
{
    public const long ExactBelow = 100_000;

    public static async Task<(long Total, bool Estimated)> TotalAsync<T>(IQuerySession session, string table, IQueryable<T> all,
        CancellationToken cancellationToken) where T : notnull
    {
        // The planner's own arithmetic: rows per page from the last ANALYZE, times the pages the table has now.
        var estimate = (await session.AdvancedSql.QueryAsync<long>("""
            select case when c.reltuples < 0 or c.relpages = 0 then -1
                        else (c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int))::bigint end
            from pg_class c where c.oid = ?::regclass
            """, cancellationToken, table)).Single();
        return estimate >= ExactBelow ? (estimate, true) : (await all.CountAsync(cancellationToken), false);
    }
}
