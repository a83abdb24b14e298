using System.Text.Json.Serialization;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

public sealed record ProductCertificateRenewed(Guid InstanceId, string IdCertificate, DateTimeOffset NotAfter, DateTimeOffset RenewAfter);

/// <summary>A registered product renews its ID certificate (every six months), for the same key or, with a CSR, a new one.</summary>
[Sender(SenderRole.Public)]
public sealed record RenewProductCertificate(string Host, SignedRequest Request, string? Csr) : ICommand<ProductCertificateRenewed>;

public sealed class RenewProductCertificateValidator : AbstractValidator<RenewProductCertificate>
{
    public RenewProductCertificateValidator() => RuleFor(x => x.Csr).MaximumLength(RegisterProductValidator.KeyTextMaxLength);
}

public sealed class RenewProductCertificateHandler(HostCommonNames names, IDocumentSession session, IProductCertificateAuthority authority, IClock clock)
    : ICommandHandler<RenewProductCertificate, ProductCertificateRenewed>
{
    public async ValueTask<ProductCertificateRenewed> Handle(RenewProductCertificate command, CancellationToken cancellationToken)
    {
        await ProductRequests.EnsureAddressedAsync(session, names, command.Host, cancellationToken);
        var now = clock.UtcNow;
        var instance = await ProductRequests.AuthenticateAsync(session, command.Request, command.Host, now, cancellationToken);
        var publicKey = command.Csr is { } csr ? authority.KeyOfRequest(csr) : instance.PublicKey;
        var certificate = await authority.IssueAsync(publicKey, instance.Udi, instance.Id, now, cancellationToken);
        instance.Renewed(certificate.Serial, certificate.NotAfter, publicKey, now);
        ProductPatches.Renewed(session, instance);
        await session.SaveChangesAsync(cancellationToken);
        return new ProductCertificateRenewed(instance.Id, certificate.Pem, certificate.NotAfter, now + ProductAuthority.RenewAfter);
    }
}

/// <summary>
/// Product requests change a few fields of an instance with one jsonb merge, never by storing the whole
/// document: synchronization may be marking the same row as uploaded at that moment (UploadBatches).
/// </summary>
public static class ProductPatches
{
    /// <summary>The product was heard from now.</summary>
    public static void Contacted(IDocumentSession session, Guid instanceId, DateTimeOffset now) => Queue(session, instanceId, new Contact(now));

    /// <summary>The instance's new certificate and key, and its contact.</summary>
    public static void Renewed(IDocumentSession session, ProductInstance instance) => Queue(session, instance.Id,
        new Renewal(instance.CertificateSerial, instance.CertificateNotAfter, instance.PublicKey, instance.LastContactAt));

    private static void Queue<T>(IDocumentSession session, Guid instanceId, T fields) =>
        session.QueueSqlCommand("update ssm.mt_doc_productinstance set data = data || ?::jsonb where id = ?",
            session.DocumentStore.Options.Serializer().ToJson(fields), instanceId);

    // Written as the document writes these fields: under its keys, the key as its point.
    private sealed record Contact([property: JsonPropertyName(ProductInstance.Keys.LastContactAt)] DateTimeOffset LastContactAt);

    private sealed record Renewal(
        [property: JsonPropertyName(ProductInstance.Keys.CertificateSerial)] string CertificateSerial,
        [property: JsonPropertyName(ProductInstance.Keys.CertificateNotAfter)] DateTimeOffset CertificateNotAfter,
        [property: JsonPropertyName(ProductInstance.Keys.PublicKey), JsonConverter(typeof(P256KeyJson))] byte[] PublicKey,
        [property: JsonPropertyName(ProductInstance.Keys.LastContactAt)] DateTimeOffset LastContactAt);
}
