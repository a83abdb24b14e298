using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ssm.Application.Sync;
using Ssm.Domain.Certificates;
using Ssm.Domain.Events;

namespace Ssm.Application.Certificates;

public static class SignedCertificates
{
    /// <summary>The subject alternative name a certificate for this host carries: its IP address, or its DNS name.</summary>
    public static X509Extension SubjectAlternativeName(string host)
    {
        var san = new SubjectAlternativeNameBuilder();
        if (System.Net.IPAddress.TryParse(host, out var address))
            san.AddIpAddress(address);
        else
            san.AddDnsName(host);
        return san.Build();
    }

    /// <summary>
    /// Stores the certificate CSC signed for <paramref name="name"/>, after checking it carries this server's
    /// key and that name; returns false when the Host Common Name changed meanwhile (it is stale already).
    /// </summary>
    public static async Task<bool> ApplyAsync(IDocumentStore documents, SignedCertificate signed, string name, IClock clock, ChangeNotifier notifier)
    {
        await using var session = documents.LightweightSession();
        var current = await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId);
        if (current is null || current.HostCommonName != name)
            return false;
        using var issued = X509Certificate2.CreateFromPem(signed.CertificatePem);
        using var key = ECDsa.Create();
        key.ImportFromPem(current.PrivateKeyPem);
        if (issued.GetECDsaPublicKey() is not { } issuedKey || !issuedKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            throw new CscRefusedException("bad_certificate", "CSC returned a certificate for another key than the one this server asked for.");
        if (!issued.MatchesHostname(name, allowWildcards: false) && issued.GetNameInfo(X509NameType.SimpleName, false) != name)
            throw new CscRefusedException("bad_certificate", $"CSC returned a certificate that does not name {name}.");
        current.Signed(signed.CertificatePem, signed.ChainPem, name, issued.NotAfter.ToUniversalTime(), clock.UtcNow);
        session.Store(current);
        session.Store(EventLogEntry.Record(clock.UtcNow, "sync", EventCategory.Security, "CertificateSigned", name, EventOutcome.Success,
            $"signed by {issued.Issuer}, valid until {issued.NotAfter.ToUniversalTime():u}"));
        await session.SaveChangesAsync();
        notifier.Publish(ChangeTopic.Certificates);
        return true;
    }
}
