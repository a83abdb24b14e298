namespace Ssm.Application.Registration;

/// <summary>An ID certificate the product CA issued.</summary>
public sealed record IssuedCertificate(string Pem, string Serial, DateTimeOffset NotAfter);

/// <summary>The cluster's product CA (its key lives in the replicated database).</summary>
public interface IProductCertificateAuthority
{
    /// <summary>Signs an ID certificate for the product's public key (SubjectPublicKeyInfo, DER).</summary>
    Task<IssuedCertificate> IssueAsync(byte[] publicKey, string udi, Guid instanceId, DateTimeOffset now, CancellationToken cancellationToken);

    Task<string> CertificatePemAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The public key (SubjectPublicKeyInfo, DER) of a product's CSR (PKCS#10 PEM) whose signature proves that the product
    /// holds its private key; a RegistrationException (MalformedRequest) for any other text or key than ECDSA P-256.
    /// </summary>
    byte[] KeyOfRequest(string csr);
}
