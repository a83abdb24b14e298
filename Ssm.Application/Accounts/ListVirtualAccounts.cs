using System.Text.Json;
using Ssm.Domain.Accounts;
using Ssm.Domain.Registration;
using Keys = Ssm.Domain.Products.ProductInstance.Keys;

namespace Ssm.Application.Accounts;

/// <summary>A virtual account as the dashboard shows it, with what it holds (it may be deleted only when both are 0).</summary>
public sealed record VirtualAccountDto(Guid Id, Guid AccountId, string Name, string Description, bool IsDefault, int Tokens, int Products)
{
    public static VirtualAccountDto From(VirtualAccount v, int tokens = 0, int products = 0) =>
        new(v.Id, v.AccountId, v.Name, v.Description, v.IsDefault, tokens, products);
}

/// <summary>An account's virtual accounts, DEFAULT first, then by name, with their token and product counts.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListVirtualAccounts(Guid AccountId) : IQuery<IReadOnlyList<VirtualAccountDto>>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListVirtualAccountsHandler(IQuerySession session) : IQueryHandler<ListVirtualAccounts, IReadOnlyList<VirtualAccountDto>>
{
    public async ValueTask<IReadOnlyList<VirtualAccountDto>> Handle(ListVirtualAccounts query, CancellationToken cancellationToken)
    {
        var all = await session.Query<VirtualAccount>().Where(v => v.AccountId == query.AccountId).ToListAsync(cancellationToken);
        var tokens = (await session.Query<RegistrationToken>().Where(t => t.AccountId == query.AccountId).Select(t => t.VirtualAccountId)
            .ToListAsync(cancellationToken)).CountBy(id => id).ToDictionary();
        // Counted by the (account, virtual account) index: no instance document is read.
        var products = (await session.AdvancedSql.QueryAsync<string>($"""
                select json_build_array(data ->> '{Keys.VirtualAccountId}', count(*))::text from ssm.mt_doc_productinstance
                where data ->> '{Keys.AccountId}' = ? group by data ->> '{Keys.VirtualAccountId}'
                """, cancellationToken, query.AccountId.ToString()))
            .Select(r => JsonDocument.Parse(r).RootElement)
            .ToDictionary(r => Guid.Parse(r[0].GetString()!), r => r[1].GetInt32());
        return all.OrderByDescending(v => v.IsDefault).ThenBy(v => v.Name, StringComparer.OrdinalIgnoreCase)
            .Select(v => VirtualAccountDto.From(v, tokens.GetValueOrDefault(v.Id), products.GetValueOrDefault(v.Id))).ToList();
    }
}
