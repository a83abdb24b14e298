using FluentValidation;
using Marten;
using Marten.Pagination;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>The sync history, newest first; a run in progress is its first row, with its live stage and percent.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListSyncRuns(int PageNumber = 1, int PageSize = 20) : IQuery<Page<SyncRunDto>>, IPaged, IScopedByHandler;

public sealed class ListSyncRunsValidator : AbstractValidator<ListSyncRuns>
{
    public ListSyncRunsValidator() => this.AddPagingRules();
}

public sealed class ListSyncRunsHandler(IQuerySession session, ICurrentUser user) : IQueryHandler<ListSyncRuns, Page<SyncRunDto>>
{
    public async ValueTask<Page<SyncRunDto>> Handle(ListSyncRuns query, CancellationToken cancellationToken)
    {
        IQueryable<SyncRun> runs = session.Query<SyncRun>();
        if (!user.Accounts.IsAll)
        {
            // A limited user sees the runs of their accounts; a run over every account names them all in its counts.
            var reachable = user.Accounts.AccountIds.Select(id => (Guid?)id).ToArray();
            runs = runs.Where(r => reachable.Contains(r.AccountId));
        }
        var page = await runs.OrderByDescending(r => r.StartedAt)
            .ToPagedListAsync(query.PageNumber, query.PageSize, cancellationToken);
        return new Page<SyncRunDto>(page.Select(SyncRunDto.From).ToList(), page.TotalItemCount, query.PageNumber, query.PageSize);
    }
}
