namespace Ssm.Application.Common;

public interface IClock
{
    DateTimeOffset UtcNow { get; }
}

/// <summary>Who sends the message being handled: a dashboard user, an API client or the console.</summary>
public interface ICurrentUser
{
    string Name { get; }
    bool IsAuthenticated { get; }
    bool IsAdmin { get; }
}

public interface IPasswordHasher
{
    string Hash(string password);
    bool Verify(string hash, string password);
}
