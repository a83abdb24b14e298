using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Ssm.Infrastructure.Notifications;

/// <summary>
/// Checks a syslog server's or SMTP relay's certificate: the system's CAs, or only the CA the admin pasted into the
/// settings (a private CA); the host name must match either way.
/// </summary>
internal static class TrustedServer
{
    public static bool Check(string caPem, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (string.IsNullOrWhiteSpace(caPem))
            return errors == SslPolicyErrors.None;
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            return false;
        using var root = X509Certificate2.CreateFromPem(caPem);
        using var leaf = new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }
}
