using System.Text.Json;
using Ssm.Domain.Registration;
using Keys = Ssm.Domain.Products.ProductInstance.Keys;

namespace Ssm.Application.Registration;

/// <summary>An account's registration tokens, newest first, with what is left of each.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListRegistrationTokens(Guid AccountId) : IQuery<IReadOnlyList<RegistrationTokenDto>>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListRegistrationTokensHandler(IQuerySession session, IClock clock)
    : IQueryHandler<ListRegistrationTokens, IReadOnlyList<RegistrationTokenDto>>
{
    public async ValueTask<IReadOnlyList<RegistrationTokenDto>> Handle(ListRegistrationTokens query, CancellationToken cancellationToken)
    {
        var tokens = await session.Query<RegistrationToken>().Where(t => t.AccountId == query.AccountId)
            .OrderByDescending(t => t.CreatedAt).ToListAsync(cancellationToken);
        // A token without a limit keeps no counter (no hot row under a registration storm): its uses are its products.
        var registered = (await session.AdvancedSql.QueryAsync<string>($"""
                select json_build_array(data ->> '{Keys.TokenId}', count(*))::text from ssm.mt_doc_productinstance
                where data ->> '{Keys.AccountId}' = ? group by data ->> '{Keys.TokenId}'
                """, cancellationToken, query.AccountId.ToString()))
            .Select(r => JsonDocument.Parse(r).RootElement)
            .ToDictionary(r => Guid.Parse(r[0].GetString()!), r => r[1].GetInt32());
        var now = clock.UtcNow;
        return tokens.Select(t => RegistrationTokenDto.From(t, t.MaxUses is null ? registered.GetValueOrDefault(t.Id) : t.Uses, now)).ToList();
    }
}
