using Microsoft.AspNetCore.Identity;

namespace Ssm.Infrastructure.Security;

/// <summary>ASP.NET Core Identity's PBKDF2 hasher (V3 format), without the rest of Identity.</summary>
internal sealed class PasswordHasher : Application.Common.IPasswordHasher
{
    private sealed class User;

    private readonly PasswordHasher<User> _hasher = new();
    private static readonly User Anyone = new();

    public string Hash(string password) => _hasher.HashPassword(Anyone, password);

    public bool Verify(string hash, string password) =>
        !string.IsNullOrEmpty(hash) &&
        _hasher.VerifyHashedPassword(Anyone, hash, password) is PasswordVerificationResult.Success or PasswordVerificationResult.SuccessRehashNeeded;
}
