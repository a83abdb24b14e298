namespace Ssm.Application.Common;

/// <summary>Who sends the message being handled: a dashboard user, an API client, a product (anonymous) or the node itself.</summary>
public interface ICurrentUser
{
    string Name { get; }
    bool IsAuthenticated { get; }
    bool IsAdmin { get; }

    /// <summary>The node itself: its jobs, start-up, console and cluster-key holders; never a web user.</summary>
    bool IsNode { get; }

    /// <summary>The API toolkit client whose bearer token authenticated this request; null for everyone else.</summary>
    string? ApiClientId { get; }

    /// <summary>The local accounts this sender reaches (decision 0032).</summary>
    AccountScope Accounts { get; }

    /// <summary>An administrator reset the password: until the user chooses one, only <see cref="IBeforePasswordChange"/> messages pass.</summary>
    bool MustChangePassword { get; }
}
