using Microsoft.AspNetCore.DataProtection;
using Ssm.Application.Notifications;

namespace Ssm.Infrastructure.Notifications;

/// <summary>Secrets of the settings, encrypted with the data protection keys that live in the replicated database.</summary>
public sealed class SecretProtector(IDataProtectionProvider provider) : ISecretProtector
{
    private readonly IDataProtector _protector = provider.CreateProtector("Ssm.Notifications.Secret.v1");

    public string Protect(string secret) => _protector.Protect(secret);

    public string Unprotect(string protectedSecret) => protectedSecret == "" ? "" : _protector.Unprotect(protectedSecret);
}
