using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography;
using Ssm.Domain.Certificates;
using Ssm.Domain.Events;

namespace Ssm.Application.Certificates;

/// <summary>Security > Certificates: the name products address this server by.</summary>
[Sender(SenderRole.Admin)]
public sealed record SetHostCommonName(string Name) : ICommand<CertificateStatus>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => Name;
}

public sealed class SetHostCommonNameValidator : AbstractValidator<SetHostCommonName>
{
    public SetHostCommonNameValidator(IHostAddresses addresses) =>
        RuleFor(x => x.Name).Must(name => HostNameRules.IsValid(name, addresses.DualStack))
            .WithMessage(x => HostNameRules.Problem(x.Name, addresses.DualStack) ?? "");
}

public sealed class SetHostCommonNameHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<SetHostCommonName, CertificateStatus>
{
    public async ValueTask<CertificateStatus> Handle(SetHostCommonName command, CancellationToken cancellationToken)
    {
        var certificate = await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken) ?? new ServerCertificate();
        var name = HostNameRules.Normalize(command.Name);
        if (name == certificate.HostCommonName)
            return CertificateStatus.From(certificate);
        var (key, csr) = CreateRequest(name);
        certificate.ChangeName(name, key, csr, user.Name, clock.UtcNow);
        session.Store(certificate);
        session.RecordSuccess(command, user, clock, $"Host Common Name {name}; certificate stale until the next synchronization");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Certificates);
        return CertificateStatus.From(certificate);
    }

    /// <summary>A fresh P-256 key and a CSR for the name, as subject CN and subject alternative name.</summary>
    public static (string KeyPem, string CsrPem) CreateRequest(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(SignedCertificates.SubjectAlternativeName(name));
        return (key.ExportPkcs8PrivateKeyPem(), request.CreateSigningRequestPem());
    }
}
