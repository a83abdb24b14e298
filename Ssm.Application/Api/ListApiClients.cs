using Ssm.Domain.Accounts;

namespace Ssm.Application.Api;

/// <summary>An account's API clients, newest first, revoked ones included.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiClients(Guid AccountId) : IQuery<IReadOnlyList<ApiClientDto>>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListApiClientsHandler(IQuerySession session) : IQueryHandler<ListApiClients, IReadOnlyList<ApiClientDto>>
{
    public async ValueTask<IReadOnlyList<ApiClientDto>> Handle(ListApiClients query, CancellationToken cancellationToken)
    {
        var clients = await session.Query<ApiClient>().Where(c => c.AccountId == query.AccountId)
            .OrderByDescending(c => c.CreatedAt).ToListAsync(cancellationToken);
        return clients.Select(ApiClientDto.From).ToList();
    }
}
