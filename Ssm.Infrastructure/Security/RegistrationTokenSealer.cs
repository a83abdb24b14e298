using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Ssm.Application.Registration;

namespace Ssm.Infrastructure.Security;

/// <summary>Registration token texts sealed with ASP.NET data protection (authenticated encryption, replicated key ring).</summary>
public sealed class RegistrationTokenSealer(IDataProtectionProvider provider) : IRegistrationTokenSealer
{
    private readonly IDataProtector _protector = provider.CreateProtector("Ssm.Registration.TokenValue.v1");

    public string Seal(string token) => _protector.Protect(token);

    public string? Open(string sealedToken)
    {
        try
        {
            return _protector.Unprotect(sealedToken);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}
