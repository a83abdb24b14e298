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
    public static async Task EnsureAddressedAsync(IQuerySession session, HostCommonNames names, string host, CancellationToken cancellationToken) =>
        Ensure(await names.ReadAsync(session, cancellationToken), host);

    private static void Ensure(HostCommonNames.Names? names, string host)
    {
        var addressed = HostNameRules.Normalize(host.Trim('[', ']'));
        if (names is null || string.IsNullOrEmpty(names.HostCommonName))
            throw new RegistrationException(RegistrationErrorCode.HostNameMismatch,
                $"The product addressed '{addressed}', but this server has no Host Common Name yet: set it under Security > Certificates and synchronize.");
        if (!string.Equals(addressed, names.HostCommonName, StringComparison.OrdinalIgnoreCase))
            throw new RegistrationException(RegistrationErrorCode.HostNameMismatch,
                $"The product addressed '{addressed}', but this server's Host Common Name is '{names.HostCommonName}': configure the product with '{names.HostCommonName}'.");
        if (names.Stale)
            throw new RegistrationException(RegistrationErrorCode.CertificateNotReady,
                $"The Host Common Name is '{names.HostCommonName}', but the server certificate is "
                + (names.SignedFor is { } old ? $"still signed for '{old}'" : "not signed by CSC yet")
                + ": synchronize with Cisco Software Central first.");
    }

    /// <summary>The product that signed the request, or the reason it is refused.</summary>
    public static async Task<ProductInstance> AuthenticateAsync(IQuerySession session, SignedRequest request, string host, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        Authenticate(await session.LoadAsync<ProductInstance>(request.InstanceId, cancellationToken), request, host, now);

    /// <summary>The same, for an instance loaded already (in a batch with what the request needs next).</summary>
    public static ProductInstance Authenticate(ProductInstance? loaded, SignedRequest request, string host, DateTimeOffset now)
    {
        var instance = loaded ?? throw new RegistrationException(RegistrationErrorCode.NotRegistered,
            $"No product instance {request.InstanceId} is registered here (it may have been removed): register the product again.");
        RequestSignature.Verify(instance.PublicKey, request.Timestamp, HostNameRules.Normalize(host.Trim('[', ']')), request.Body,
            request.Signature, now);
        instance.EnsureCertificateValid(now);
        return instance;
    }
}

/// <summary>
/// The Host Common Name and the name the certificate is signed for, as every product request checks them: read
/// from the database at most once a second (a registration storm would otherwise load the certificate document,
/// key and chain, for every request). A name set or signed on this node is seen at once (<see cref="Forget"/>).
/// </summary>
public sealed class HostCommonNames
{
    private static readonly TimeSpan Freshness = TimeSpan.FromSeconds(1);
    private (Names? Value, long ReadAt)? _cached;

    public HostCommonNames(ChangeNotifier notifier) => notifier.Changed += topic =>
    {
        if (topic == ChangeTopic.Certificates)
            Forget();
    };

    public sealed record Names(string HostCommonName, string? SignedFor, bool Stale);

    public async Task<Names?> ReadAsync(IQuerySession session, CancellationToken cancellationToken)
    {
        if (_cached is { } cached && System.Diagnostics.Stopwatch.GetElapsedTime(cached.ReadAt) < Freshness)
            return cached.Value;
        var readAt = System.Diagnostics.Stopwatch.GetTimestamp();
        var certificate = await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken);
        var names = certificate is null ? null : new Names(certificate.HostCommonName, certificate.SignedFor, certificate.IsStale);
        _cached = (names, readAt);
        return names;
    }

    public void Forget() => _cached = null;
}
