using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Domain.Licenses;
using Ssm.Domain.Products;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Products;

/// <summary>Product instances, usage and entitlements written straight to the store, as registrations and synchronizations leave them.</summary>
public static class ProductData
{
    public static readonly DateTimeOffset Epoch = new(2025, 3, 1, 0, 0, 0, TimeSpan.Zero);

    public static ProductInstance Instance(Guid accountId, string name, string pid, string serial, int minutes = 0) => new()
    {
        Id = Guid.CreateVersion7(Epoch.AddMinutes(minutes)), // as a registration makes it: a version 7 UUID of RegisteredAt
        AccountId = accountId,
        VirtualAccountId = accountId, // the account's DEFAULT
        TokenId = Guid.Empty,
        Pid = pid,
        SerialNumber = serial,
        Name = name,
        ProductType = "Router",
        HostName = $"{name.ToLowerInvariant()}.lab.example",
        RegisteredAt = Epoch.AddMinutes(minutes),
        LastContactAt = Epoch.AddDays(1).AddMinutes(-minutes),
        CertificateSerial = $"{minutes:X8}",
        CertificateNotAfter = Epoch.AddYears(1),
    };

    /// <summary>
    /// The instance's JSON as versions before decision 0046 wrote it: property names as keys, the UDI, the key's whole
    /// SubjectPublicKeyInfo, the export flag even when false; without its virtual account if asked (before decision 0030).
    /// </summary>
    public static string LegacyJson(IDocumentStore store, ProductInstance p, bool withVirtualAccount = true)
    {
        var document = new Dictionary<string, object?>
        {
            ["Id"] = p.Id, ["AccountId"] = p.AccountId, ["TokenId"] = p.TokenId, ["Pid"] = p.Pid, ["SerialNumber"] = p.SerialNumber,
            ["Udi"] = $"{p.Pid}:{p.SerialNumber}".ToUpperInvariant(), ["Name"] = p.Name, ["ProductType"] = p.ProductType, ["HostName"] = p.HostName,
            ["ExportControlled"] = p.ExportControlled, ["RegisteredAt"] = p.RegisteredAt, ["LastContactAt"] = p.LastContactAt,
            ["CertificateSerial"] = p.CertificateSerial, ["CertificateNotAfter"] = p.CertificateNotAfter, ["PublicKey"] = Convert.ToBase64String(p.PublicKey),
        };
        if (withVirtualAccount)
            document["VirtualAccountId"] = p.VirtualAccountId;
        return store.Options.Serializer().ToJson(document);
    }

    /// <summary>The licenses the instance uses now, as its usage reports leave them.</summary>
    public static ProductUsage Using(ProductInstance instance, params LicenseUse[] usage) => new()
    {
        Id = instance.Id,
        AccountId = instance.AccountId,
        VirtualAccountId = instance.VirtualAccountId,
        Usage = [.. usage],
        LastReportAt = instance.LastContactAt,
    };

    public static UsageRecord Usage(Guid accountId, Guid instanceId, string tag, int count, DateTimeOffset from, DateTimeOffset to) => new()
    {
        Id = Guid.CreateVersion7(),
        AccountId = accountId,
        InstanceId = instanceId,
        ReportId = Guid.NewGuid().ToString("N"),
        Tag = tag,
        Count = count,
        From = from,
        To = to,
        ReceivedAt = to,
    };

    public static Entitlement Bought(Guid accountId, string tag, string name, int quantity) => new()
    {
        Id = Entitlement.IdOf(accountId, tag),
        AccountId = accountId,
        Tag = tag,
        Name = name,
        Quantity = quantity,
        StartDate = DateOnly.FromDateTime(DateTime.UtcNow.AddYears(-1)),
        EndDate = DateOnly.FromDateTime(DateTime.UtcNow.AddYears(1)),
        SyncedAt = DateTimeOffset.UtcNow,
    };

    public static async Task StoreAsync(this ServiceFixture fixture, params object[] documents)
    {
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        foreach (var document in documents)
            session.Store(document);
        await session.SaveChangesAsync();
    }
}
