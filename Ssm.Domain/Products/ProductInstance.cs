using System.Text.Json;
using System.Text.Json.Serialization;
using Ssm.Domain.Registration;

namespace Ssm.Domain.Products;

/// <summary>The licenses a product said it uses, from its latest usage report per tag.</summary>
public sealed record LicenseUse(string Tag, int Count, DateTimeOffset Until);

/// <summary>
/// A registered network product. Its ID certificate, signed by the cluster's product CA, is what it proves
/// itself with after registration. Synchronization uploads each one to CSC once, from its row in the upload queue
/// (decision 0041). The document keeps what is read (decision 0035): the certificate's
/// serial and expiry and the key it certifies, not the certificate itself, which the product got and keeps.
/// A million of them are stored, so their JSON is written small (decision 0046): short keys (<see cref="Keys"/>, which
/// SQL of our own names them by), no UDI (PID and serial number are its parts, stored upper-case), no false
/// export flag, and of the key only its point.
/// </summary>
public sealed class ProductInstance
{
    public const int NameMaxLength = 128;

    /// <summary>The JSON keys of the document: what SQL written by hand reads (LINQ takes them from the attributes).</summary>
    public static class Keys
    {
        public const string AccountId = "acct";
        public const string VirtualAccountId = "va";
        public const string TokenId = "tok";
        public const string Pid = "pid";
        public const string SerialNumber = "sn";
        public const string Name = "name";
        public const string ProductType = "type";
        public const string HostName = "host";
        public const string ExportControlled = "xc";
        public const string RegisteredAt = "reg";
        public const string LastContactAt = "seen";
        public const string CertificateSerial = "cs";
        public const string CertificateNotAfter = "cexp";
        public const string PublicKey = "key";
    }

    public Guid Id { get; set; }
    [JsonPropertyName(Keys.AccountId)]
    public Guid AccountId { get; set; }
    /// <summary>Its token's virtual account when it registered; moved by an operator within the account.</summary>
    [JsonPropertyName(Keys.VirtualAccountId)]
    public Guid VirtualAccountId { get; set; }
    [JsonPropertyName(Keys.TokenId)]
    public Guid TokenId { get; set; }
    /// <summary>Upper-case (<see cref="Canonical"/>), as UDIs are compared.</summary>
    [JsonPropertyName(Keys.Pid)]
    public string Pid { get; set; } = "";
    /// <summary>Upper-case (<see cref="Canonical"/>), as UDIs are compared.</summary>
    [JsonPropertyName(Keys.SerialNumber)]
    public string SerialNumber { get; set; } = "";
    /// <summary>"PID:SN": one registration per product, whatever account it is in (the unique index on PID and serial number).</summary>
    [JsonIgnore]
    public string Udi => $"{Pid}:{SerialNumber}";
    [JsonPropertyName(Keys.Name)]
    public string Name { get; set; } = "";
    [JsonPropertyName(Keys.ProductType)]
    public string ProductType { get; set; } = "";
    [JsonPropertyName(Keys.HostName)]
    public string HostName { get; set; } = "";
    /// <summary>Written only when true: almost no product is.</summary>
    [JsonPropertyName(Keys.ExportControlled), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ExportControlled { get; set; }
    [JsonPropertyName(Keys.RegisteredAt)]
    public DateTimeOffset RegisteredAt { get; set; }
    [JsonPropertyName(Keys.LastContactAt)]
    public DateTimeOffset LastContactAt { get; set; }
    [JsonPropertyName(Keys.CertificateSerial)]
    public string CertificateSerial { get; set; } = "";
    [JsonPropertyName(Keys.CertificateNotAfter)]
    public DateTimeOffset CertificateNotAfter { get; set; }
    /// <summary>The key the ID certificate certifies (SubjectPublicKeyInfo, DER): request signatures verify against it.</summary>
    [JsonPropertyName(Keys.PublicKey), JsonConverter(typeof(P256KeyJson))]
    public byte[] PublicKey { get; set; } = [];

    /// <summary>Usage reports move <see cref="LastContactAt"/> only this coarsely: each move rewrites the whole, much-indexed document.</summary>
    public static readonly TimeSpan ContactResolution = TimeSpan.FromMinutes(5);

    /// <summary>A PID or serial number as stored and compared: trimmed, upper-case.</summary>
    public static string Canonical(string part) => part.Trim().ToUpperInvariant();

    public static string UdiOf(string pid, string serialNumber) => $"{Canonical(pid)}:{Canonical(serialNumber)}";

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

/// <summary>A P-256 public key as products send it: a SubjectPublicKeyInfo (DER) of an uncompressed point.</summary>
public static class P256Key
{
    /// <summary>
    /// RFC 5480: the DER of every P-256 key's SubjectPublicKeyInfo (id-ecPublicKey, named curve prime256v1, an
    /// uncompressed point) is these 26 bytes, then the point: 0x04 and its 64 bytes. DER has one encoding only, so
    /// comparing bytes is the whole check of algorithm and curve.
    /// </summary>
    public static ReadOnlySpan<byte> InfoPrefix =>
    [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01,
        0x07, 0x03, 0x42, 0x00,
    ];

    public const int PointLength = 65;
    public const int InfoLength = 26 + PointLength;

    /// <summary>True for the SubjectPublicKeyInfo of a P-256 key.</summary>
    public static bool IsInfo(ReadOnlySpan<byte> der) => der.Length == InfoLength && der.StartsWith(InfoPrefix) && der[InfoPrefix.Length] == 0x04;
}

/// <summary>
/// A product key in JSON as its P-256 point alone (65 bytes, 88 characters of base64 instead of 124): the 26 bytes
/// before it are the same in every P-256 SubjectPublicKeyInfo, and are put back when read. Any other key, and one
/// stored whole before decision 0046, reads as it is.
/// </summary>
public sealed class P256KeyJson : JsonConverter<byte[]>
{
    public override byte[] Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var stored = reader.GetBytesFromBase64();
        return stored is [0x04, ..] && stored.Length == P256Key.PointLength ? [.. P256Key.InfoPrefix, .. stored] : stored;
    }

    public override void Write(Utf8JsonWriter writer, byte[] value, JsonSerializerOptions options) =>
        writer.WriteBase64StringValue(P256Key.IsInfo(value) ? value.AsSpan(P256Key.InfoPrefix.Length) : value);
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
