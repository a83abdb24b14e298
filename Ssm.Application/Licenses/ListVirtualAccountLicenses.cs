using System.Text.Json;
using Ssm.Domain.Accounts;
using Ssm.Domain.Licenses;

namespace Ssm.Application.Licenses;

/// <summary>
/// One license tag in one virtual account, as SSM shows it: in use by that virtual account's products; purchased,
/// in use and available for the whole local account, where licenses are bought.
/// </summary>
public sealed record VirtualAccountLicenseDto(Guid VirtualAccountId, string VirtualAccount, string Tag, string Name, int InUse,
    int AccountPurchased, int AccountInUse, int AccountAvailable, ComplianceStatus AccountStatus)
{
    public string AccountStatusText => LicenseBalance.Text(AccountStatus);
}

/// <summary>An account's licenses per virtual account: every tag the account bought or uses, under each virtual account using it or DEFAULT.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListVirtualAccountLicenses(Guid AccountId) : IQuery<IReadOnlyList<VirtualAccountLicenseDto>>, IAccountScoped
{
    public Guid? ScopeAccountId => AccountId;
}

public sealed class ListVirtualAccountLicensesHandler(IQuerySession session, ISender sender)
    : IQueryHandler<ListVirtualAccountLicenses, IReadOnlyList<VirtualAccountLicenseDto>>
{
    public async ValueTask<IReadOnlyList<VirtualAccountLicenseDto>> Handle(ListVirtualAccountLicenses query, CancellationToken cancellationToken)
    {
        var account = await sender.Send(new ListLicenses(query.AccountId), cancellationToken);
        var names = (await session.Query<VirtualAccount>().Where(v => v.AccountId == query.AccountId).Select(v => new { v.Id, v.Name })
            .ToListAsync(cancellationToken)).ToDictionary(v => v.Id, v => v.Name);
        // The narrow usage documents of the account, by its index, summed per virtual account and tag.
        var used = (await session.AdvancedSql.QueryAsync<string>("""
                select json_build_array(r."VirtualAccountId", u ->> 'Tag', sum((u ->> 'Count')::bigint))::text
                from ssm.mt_doc_productusage d, jsonb_to_record(d.data) as r("VirtualAccountId" text, "Usage" jsonb),
                     jsonb_array_elements(r."Usage") u
                where (d.data ->> 'AccountId')::uuid = ?::uuid
                group by r."VirtualAccountId", u ->> 'Tag'
                """, cancellationToken, query.AccountId.ToString()))
            .Select(r => JsonDocument.Parse(r).RootElement)
            .Select(r => (VirtualAccountId: Guid.Parse(r[0].GetString()!), Tag: r[1].GetString()!, InUse: (int)Math.Min(int.MaxValue, r[2].GetInt64())))
            .ToList();
        var rows = new List<VirtualAccountLicenseDto>();
        foreach (var license in account)
        {
            var uses = used.Where(u => u.Tag == license.Tag).ToList();
            // A tag bought but used nowhere shows under DEFAULT (the account's id), where SSM puts what it syncs down.
            if (uses.Count == 0)
                uses.Add((query.AccountId, license.Tag, 0));
            rows.AddRange(uses.Select(u => new VirtualAccountLicenseDto(u.VirtualAccountId, names.GetValueOrDefault(u.VirtualAccountId, "(deleted)"),
                license.Tag, license.Name, u.InUse, license.Purchased, license.InUse, license.Available, license.Status)));
        }
        return rows.OrderBy(r => r.VirtualAccountId == query.AccountId ? 0 : 1).ThenBy(r => r.VirtualAccount, StringComparer.OrdinalIgnoreCase)
            .ThenBy(r => r.Name).ToList();
    }
}
