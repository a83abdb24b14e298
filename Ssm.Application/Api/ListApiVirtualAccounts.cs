using Ssm.Domain.Accounts;

namespace Ssm.Application.Api;

public sealed record ApiVirtualAccount(Guid Id, string Name, string Description, bool IsDefault);

public sealed record ApiVirtualAccounts(IReadOnlyList<ApiVirtualAccount> VirtualAccounts);

/// <summary>An account's virtual accounts, DEFAULT first, then by name.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiVirtualAccounts(Guid AccountId, int Limit = ApiLimit.All) : IQuery<ApiVirtualAccounts>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListApiVirtualAccountsValidator : AbstractValidator<ListApiVirtualAccounts>
{
    public ListApiVirtualAccountsValidator() => this.AddLimitRule(x => x.Limit);
}

public sealed class ListApiVirtualAccountsHandler(IQuerySession session) : IQueryHandler<ListApiVirtualAccounts, ApiVirtualAccounts>
{
    public async ValueTask<ApiVirtualAccounts> Handle(ListApiVirtualAccounts query, CancellationToken cancellationToken)
    {
        if (!await session.Query<LocalAccount>().AnyAsync(a => a.Id == query.AccountId, cancellationToken))
            throw new NotFoundException($"No account with id {query.AccountId}.");
        var all = await session.Query<VirtualAccount>().Where(v => v.AccountId == query.AccountId).ToListAsync(cancellationToken);
        return new ApiVirtualAccounts(ApiLimit.Apply(all.OrderByDescending(v => v.IsDefault).ThenBy(v => v.Name, StringComparer.OrdinalIgnoreCase)
            .Select(v => new ApiVirtualAccount(v.Id, v.Name, v.Description, v.IsDefault)), query.Limit));
    }
}

public static class ApiVirtualAccountScope
{
    /// <summary>The virtual account a URL names within the caller's account, by name in any case or by id.</summary>
    public static async Task<VirtualAccount> FindAsync(IQuerySession session, Guid accountId, string nameOrId, CancellationToken cancellationToken)
    {
        var all = await session.Query<VirtualAccount>().Where(v => v.AccountId == accountId).ToListAsync(cancellationToken);
        return all.FirstOrDefault(v => v.IsNamedBy(nameOrId))
            ?? throw new NotFoundException($"This account has no virtual account '{nameOrId}'; GET its virtual-accounts lists them.");
    }

    /// <summary>Token values are for the account's API clients, its administrators and system admins; a viewer may not read or make them.</summary>
    public static void EnsureTokenManager(ICurrentUser user, Guid accountId)
    {
        if (user.ApiClientId is null && !user.IsAdmin && !user.Accounts.MayAdminister(accountId))
            throw new ForbiddenException($"'{user.Name}' may not read or make registration tokens: an API client or an administrator of the account may.");
    }
}
