using FluentValidation;
using Marten;
using Marten.Pagination;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>The sync history, newest first; a run in progress is its first row, with its live stage and percent.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListSyncRuns(int PageNumber = 1, int PageSize = 20) : IQuery<Page<SyncRunDto>>, IPaged;

public sealed class ListSyncRunsValidator : AbstractValidator<ListSyncRuns>
{
    public ListSyncRunsValidator() => this.AddPagingRules();
}

public sealed class ListSyncRunsHandler(IQuerySession session) : IQueryHandler<ListSyncRuns, Page<SyncRunDto>>
{
    public async ValueTask<Page<SyncRunDto>> Handle(ListSyncRuns query, CancellationToken cancellationToken)
    {
        var page = await session.Query<SyncRun>().OrderByDescending(r => r.StartedAt)
            .ToPagedListAsync(query.PageNumber, query.PageSize, cancellationToken);
        return new Page<SyncRunDto>(page.Select(SyncRunDto.From).ToList(), page.TotalItemCount, query.PageNumber, query.PageSize);
    }
}
