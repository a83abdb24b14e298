using Marten;
using Ssm.Domain.Licenses;
using Ssm.Domain.Products;

namespace Ssm.Tests.Features.Api;

/// <summary>Licenses with known numbers: Advantage 10 bought, 4 used (in compliance); Essentials 2 bought, 5 used (out).</summary>
public static class ApiSeed
{
    public const string AdvantageTag = "regid.2017-07.com.cisco.DNA_Advantage";
    public const string EssentialsTag = "regid.2017-07.com.cisco.DNA_Essentials";

    /// <summary>FOC1 in DEFAULT; FOC2 in <paramref name="secondVirtualAccountId"/>, DEFAULT when null.</summary>
    public static async Task LicensesAsync(IDocumentStore store, Guid accountId, Guid? secondVirtualAccountId = null)
    {
        var now = DateTimeOffset.UtcNow;
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        await using var session = store.LightweightSession();
        session.Store(Bought(accountId, AdvantageTag, "DNA Advantage", 10, today, now), Bought(accountId, EssentialsTag, "DNA Essentials", 2, today, now));
        Product(session, accountId, accountId, "FOC1", [new LicenseUse(AdvantageTag, 3, now.AddHours(1)), new LicenseUse(EssentialsTag, 2, now.AddHours(1))], now);
        Product(session, accountId, secondVirtualAccountId ?? accountId, "FOC2", [new LicenseUse(AdvantageTag, 1, now.AddHours(1)), new LicenseUse(EssentialsTag, 3, now.AddHours(1))], now);
        await session.SaveChangesAsync();
    }

    private static Entitlement Bought(Guid accountId, string tag, string name, int quantity, DateOnly today, DateTimeOffset now) => new()
    {
        Id = Entitlement.IdOf(accountId, tag), AccountId = accountId, Tag = tag, Name = name, Quantity = quantity,
        StartDate = today.AddDays(-1), EndDate = today.AddYears(1), SyncedAt = now,
    };

    private static void Product(IDocumentSession session, Guid accountId, Guid virtualAccountId, string serial, List<LicenseUse> usage, DateTimeOffset now)
    {
        var id = Guid.CreateVersion7();
        session.Store(new ProductInstance
        {
            // The account in the serial number: one product per UDI, whatever the account, and the tests seed several accounts.
            Id = id, AccountId = accountId, VirtualAccountId = virtualAccountId, Pid = "C9300-24T",
            SerialNumber = ProductInstance.Canonical($"{serial}-{accountId:N}"), Name = serial, RegisteredAt = now, LastContactAt = now,
        });
        session.Store(new ProductUsage { Id = id, AccountId = accountId, VirtualAccountId = virtualAccountId, Usage = usage, LastReportAt = now });
    }
}
