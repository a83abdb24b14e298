using Ssm.Domain.Registration;

namespace Ssm.Domain.Products;

/// <summary>The licenses a product said it uses, from its latest usage report per tag.</summary>
public sealed record LicenseUse(string Tag, int Count, DateTimeOffset Until);

/// <summary>
/// A registered network product. Its ID certificate, signed by the cluster's product CA, is what it proves
/// itself with after registration. Synchronization uploads each one to CSC once, from its row in the upload queue
/// (decision 0041). The document keeps what is read (decision 0035): the certificate's
/// serial and expiry and the key it certifies, not the certificate itself, which the product got and keeps.
/// </summary>
public sealed class ProductInstance
{
    public const int NameMaxLength = 128;

    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    /// <summary>Its token's virtual account when it registered; moved by an operator within the account.</summary>
    public Guid VirtualAccountId { get; set; }
    public Guid TokenId { get; set; }
    public string Pid { get; set; } = "";
    public string SerialNumber { get; set; } = "";
    /// <summary>"PID:SN" upper-cased: one registration per product, whatever account it is in.</summary>
    public string Udi { get; set; } = "";
    public string Name { get; set; } = "";
    public string ProductType { get; set; } = "";
    public string HostName { get; set; } = "";
    public bool ExportControlled { get; set; }
    public DateTimeOffset RegisteredAt { get; set; }
    public DateTimeOffset LastContactAt { get; set; }
    public string CertificateSerial { get; set; } = "";
    public DateTimeOffset CertificateNotAfter { get; set; }
    /// <summary>The key the ID certificate certifies (SubjectPublicKeyInfo, DER): request signatures verify against it.</summary>
    public byte[] PublicKey { get; set; } = [];

    /// <summary>Usage reports move <see cref="LastContactAt"/> only this coarsely: each move rewrites the whole, much-indexed document.</summary>
    public static readonly TimeSpan ContactResolution = TimeSpan.FromMinutes(5);

    public static string UdiOf(string pid, string serialNumber) => $"{pid.Trim()}:{serialNumber.Trim()}".ToUpperInvariant();

    /// <summary>The ID certificate in force: expired means the product has to register again.</summary>
    public void EnsureCertificateValid(DateTimeOffset now)
    {
        if (CertificateNotAfter <= now)
            throw new RegistrationException(RegistrationErrorCode.CertificateExpired,
                $"The ID certificate of {Udi} expired on {CertificateNotAfter:u}; register the product again.");
    }

    public void Renewed(string serial, DateTimeOffset notAfter, byte[] publicKey, DateTimeOffset now)
    {
        CertificateSerial = serial;
        CertificateNotAfter = notAfter;
        PublicKey = publicKey;
        LastContactAt = now;
    }

}

/// <summary>
/// The licenses one product uses now, by its latest report per tag: a narrow document apart from the instance, so
/// that a report rewrites a few hundred bytes instead of the instance (its certificate and a dozen indexes), and the
/// sum over an account's products reads no certificate. Same id as its instance; gone with it.
/// </summary>
public sealed class ProductUsage
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    /// <summary>Its instance's virtual account: in use is shown per virtual account.</summary>
    public Guid VirtualAccountId { get; set; }
    public List<LicenseUse> Usage { get; set; } = [];
    public DateTimeOffset LastReportAt { get; set; }

    /// <summary>Folds a report into the per-tag usage: a window that ends later replaces the one before.</summary>
    public void Merge(IEnumerable<LicenseUse> reported, DateTimeOffset now)
    {
        var byTag = Usage.ToDictionary(u => u.Tag);
        foreach (var use in reported)
            if (!byTag.TryGetValue(use.Tag, out var known) || known.Until <= use.Until)
                byTag[use.Tag] = use;
        Usage = [.. byTag.Values.OrderBy(u => u.Tag, StringComparer.Ordinal)];
        LastReportAt = now;
    }
}

/// <summary>License usage a product reported for a time window (modelled on a RUM report).</summary>
public sealed class UsageRecord
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public Guid InstanceId { get; set; }
    public string ReportId { get; set; } = "";
    public string Tag { get; set; } = "";
    public int Count { get; set; }
    public DateTimeOffset From { get; set; }
    public DateTimeOffset To { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>The same report of the same product always gets the same id, so a replay cannot be stored twice.</summary>
    public static Guid IdOf(Guid instanceId, string reportId, string tag)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{instanceId:N}/{reportId}/{tag}"));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80); // version 8: a name-based UUID of our own
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}
