namespace Ssm.Domain.Registration;

/// <summary>
/// The cluster's product CA, which signs the ID certificates of registered products. One per cluster, in the
/// replicated database, so a product registered on one node is recognised on the other after a failover.
/// </summary>
public sealed class ProductAuthority
{
    public const string SingletonId = "product-ca";
    public static readonly TimeSpan IdCertificateLifetime = TimeSpan.FromDays(365);
    /// <summary>Products renew their ID certificate every six months.</summary>
    public static readonly TimeSpan RenewAfter = TimeSpan.FromDays(182);

    public string Id { get; set; } = SingletonId;
    public string CertificatePem { get; set; } = "";
    public string PrivateKeyPem { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
}
