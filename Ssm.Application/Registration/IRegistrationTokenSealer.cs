namespace Ssm.Application.Registration;

/// <summary>
/// Keeps a registration token's text readable again by those allowed to read it (SSM shows tokens again), without
/// it lying in the database in clear: sealed with the node's data protection keys, which both nodes read from the
/// replicated database (decision 0024).
/// </summary>
public interface IRegistrationTokenSealer
{
    string Seal(string token);

    /// <summary>Null when the sealed text is damaged or its key is gone.</summary>
    string? Open(string sealedToken);
}
