using Marten;
using Ssm.Domain.Certificates;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

/// <summary>How a registered product signed its request (docs/smart-transport.md): never a token again.</summary>
public sealed record SignedRequest(Guid InstanceId, long Timestamp, string Signature, byte[] Body);

/// <summary>What every product request passes before it is handled: the address rule and, after registration, the signature.</summary>
public static class ProductRequests
{
    /// <summary>
    /// The Host Common Name rule: products must address the server by the name its certificate was signed for,
    /// and only once CSC has signed it for the current name.
    /// </summary>
    public static async Task EnsureAddressedAsync(IQuerySession session, string host, CancellationToken cancellationToken)
    {
        var certificate = await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken);
        var addressed = HostNameRules.Normalize(host.Trim('[', ']'));
        if (certificate is null || string.IsNullOrEmpty(certificate.HostCommonName))
            throw new RegistrationException(RegistrationErrorCode.HostNameMismatch,
                $"The product addressed '{addressed}', but this server has no Host Common Name yet: set it under Security > Certificates and synchronize.");
        if (!string.Equals(addressed, certificate.HostCommonName, StringComparison.OrdinalIgnoreCase))
            throw new RegistrationException(RegistrationErrorCode.HostNameMismatch,
                $"The product addressed '{addressed}', but this server's Host Common Name is '{certificate.HostCommonName}': configure the product with '{certificate.HostCommonName}'.");
        if (certificate.IsStale)
            throw new RegistrationException(RegistrationErrorCode.CertificateNotReady,
                $"The Host Common Name is '{certificate.HostCommonName}', but the server certificate is "
                + (certificate.SignedFor is { } old ? $"still signed for '{old}'" : "not signed by CSC yet")
                + ": synchronize with Cisco Software Central first.");
    }

    /// <summary>The product that signed the request, or the reason it is refused.</summary>
    public static async Task<ProductInstance> AuthenticateAsync(IQuerySession session, SignedRequest request, string host, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var instance = await session.LoadAsync<ProductInstance>(request.InstanceId, cancellationToken)
            ?? throw new RegistrationException(RegistrationErrorCode.NotRegistered,
                $"No product instance {request.InstanceId} is registered here (it may have been removed): register the product again.");
        RequestSignature.Verify(instance.PublicKey, request.Timestamp, HostNameRules.Normalize(host.Trim('[', ']')), request.Body,
            request.Signature, now);
        instance.EnsureCertificateValid(now);
        return instance;
    }
}
