using System.Security.Cryptography.X509Certificates;
using Ssm.Domain.Certificates;

namespace Ssm.Application.Certificates;

public sealed record CertificateStatus(string HostCommonName, bool Stale, string? SignedFor, DateTimeOffset? NotAfter, DateTimeOffset? SignedAt,
    string? Issuer, string NameSetBy, DateTimeOffset NameSetAt)
{
    public static CertificateStatus From(ServerCertificate c)
    {
        string? issuer = null;
        if (c.CertificatePem is { } pem)
        {
            using var certificate = X509Certificate2.CreateFromPem(pem);
            issuer = certificate.Issuer;
        }
        return new(c.HostCommonName, c.IsStale, c.SignedFor, c.NotAfter, c.SignedAt, issuer, c.NameSetBy, c.NameSetAt);
    }
}

[Sender(SenderRole.Viewer)]
public sealed record GetCertificateStatus : IQuery<CertificateStatus?>, INoAccountData;

public sealed class GetCertificateStatusHandler(IQuerySession session) : IQueryHandler<GetCertificateStatus, CertificateStatus?>
{
    public async ValueTask<CertificateStatus?> Handle(GetCertificateStatus query, CancellationToken cancellationToken) =>
        await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken) is { HostCommonName.Length: > 0 } c
            ? CertificateStatus.From(c)
            : null;
}
