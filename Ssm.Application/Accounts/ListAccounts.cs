using Marten.Pagination;
using Ssm.Domain.Accounts;

namespace Ssm.Application.Accounts;

[Sender(SenderRole.Viewer)]
public sealed record ListAccounts(string? Search = null, int PageNumber = 1, int PageSize = 20) : IQuery<Page<AccountDto>>, IPaged, IScopedByHandler;

public sealed class ListAccountsValidator : AbstractValidator<ListAccounts>
{
    public ListAccountsValidator()
    {
        this.AddPagingRules();
        RuleFor(x => x.Search).MaximumLength(AccountRules.NameMaxLength);
    }
}

public sealed class ListAccountsHandler(IQuerySession session, IClock clock, ICurrentUser user) : IQueryHandler<ListAccounts, Page<AccountDto>>
{
    public async ValueTask<Page<AccountDto>> Handle(ListAccounts query, CancellationToken cancellationToken)
    {
        IQueryable<LocalAccount> accounts = session.Query<LocalAccount>();
        if (!user.Accounts.IsAll)
        {
            var reachable = user.Accounts.AccountIds.ToArray();
            accounts = accounts.Where(a => reachable.Contains(a.Id));
        }
        if (!string.IsNullOrWhiteSpace(query.Search))
        {
            var key = AccountRules.KeyOf(query.Search.Trim());
            accounts = accounts.Where(a => a.NameKey.Contains(key));
        }
        var page = await accounts.OrderBy(a => a.NameKey).ToPagedListAsync(query.PageNumber, query.PageSize, cancellationToken);
        return new Page<AccountDto>(page.Select(a => AccountDto.From(a, clock.UtcNow)).ToList(), page.TotalItemCount, query.PageNumber, query.PageSize);
    }
}
