using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>The sync history, newest first; a run in progress is its first row, with its live stage and percent.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListSyncRuns(int PageNumber = 1, int PageSize = 20, string? After = null, string? Before = null, bool Last = false)
    : IQuery<Page<SyncRunDto>>, ISeekPaged, IScopedByHandler;

public sealed class ListSyncRunsValidator : AbstractValidator<ListSyncRuns>
{
    public ListSyncRunsValidator() => this.AddSeekRules(_ => ListSyncRunsHandler.Keys.Length);
}

public sealed class ListSyncRunsHandler(IQuerySession session, ICurrentUser user) : IQueryHandler<ListSyncRuns, Page<SyncRunDto>>
{
    internal static readonly SeekKey[] Keys = [SeekKey.Timestamp(nameof(SyncRun.StartedAt))];

    public async ValueTask<Page<SyncRunDto>> Handle(ListSyncRuns query, CancellationToken cancellationToken)
    {
        IQueryable<SyncRun> runs = session.Query<SyncRun>();
        if (!user.Accounts.IsAll)
        {
            // A limited user sees the runs of their accounts; a run over every account names them all in its counts.
            var reachable = user.Accounts.AccountIds.Select(id => (Guid?)id).ToArray();
            runs = runs.Where(r => reachable.Contains(r.AccountId));
        }
        var (rows, pageNumber, previous, next) = await Seek.PageAsync(runs, query, descending: true, Keys,
            (rows, backward) => backward ? rows.OrderBy(r => r.StartedAt).ThenBy(r => r.Id) : rows.OrderByDescending(r => r.StartedAt).ThenByDescending(r => r.Id),
            rows => rows, r => new PageCursor([PageCursor.Text(r.StartedAt)], r.Id), cancellationToken);
        var total = await runs.CountAsync(cancellationToken);
        return new Page<SyncRunDto>(rows.Select(SyncRunDto.From).ToList(), total, pageNumber, query.PageSize) { Next = next, Previous = previous };
    }
}
