using System.Collections.Concurrent;
using System.Reflection;
using Ssm.Domain.Events;

namespace Ssm.Application.Common;

/// <summary>A command that changes state and therefore lands in the Event Log, also when it fails.</summary>
public interface IAudited
{
    EventCategory Category { get; }
    string Subject { get; }
}

/// <summary>Who may send a message, lowest first: each level also lets through every sender of a higher one.</summary>
public enum SenderRole
{
    /// <summary>Anyone, unauthenticated: a product on Smart Transport, a login, an API token being checked.</summary>
    Public,
    /// <summary>Any signed-in user or API client.</summary>
    Viewer,
    /// <summary>A signed-in admin.</summary>
    Admin,
    /// <summary>The node itself (its jobs, start-up and console, a cluster-key holder), never a web user.</summary>
    Internal,
}

/// <summary>Every message declares who may send it; <see cref="ValidationBehavior{TMessage,TResponse}"/> refuses one that does not (decision 0017).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class SenderAttribute(SenderRole role) : Attribute
{
    public SenderRole Role { get; } = role;
}

public static class Senders
{
    private static readonly ConcurrentDictionary<Type, SenderRole?> Declared = new();

    /// <summary>The message type's own declaration, or null: a base type's does not count.</summary>
    public static SenderRole? DeclaredBy(Type message) =>
        Declared.GetOrAdd(message, type => type.GetCustomAttribute<SenderAttribute>(inherit: false)?.Role);

    public static SenderRole RoleOf(ICurrentUser user) =>
        user.IsNode ? SenderRole.Internal
        : user.IsAdmin ? SenderRole.Admin
        : user.IsAuthenticated ? SenderRole.Viewer
        : SenderRole.Public;

    /// <summary>
    /// Refuses the message unless it declares its senders and <paramref name="user"/> is one of them, and, for a user
    /// limited to some accounts, unless it stays within them (decision 0032): one place, failing closed.
    /// </summary>
    public static void EnsureMaySend(object message, ICurrentUser user)
    {
        var name = EventLog.ActionOf(message);
        if (DeclaredBy(message.GetType()) is not { } required)
            throw new ForbiddenException($"{name} does not declare who may send it, so nobody may.");
        if (required == SenderRole.Public)
            return;
        if (user.MustChangePassword && message is not IBeforePasswordChange)
            throw new ForbiddenException($"'{user.Name}' must choose a new password first.");
        var level = RoleOf(user);
        // An account administrator is admin of the account the message names, and of nothing else.
        var administersIt = required == SenderRole.Admin && message is IAccountScoped { ScopeAccountId: { } administered }
            && user.Accounts.MayAdminister(administered);
        if (level < required && !administersIt)
            throw new ForbiddenException(required switch
            {
                SenderRole.Internal => $"'{user.Name}' may not send {name}: only the node itself does.",
                SenderRole.Admin => $"'{user.Name}' may only read: {name} needs the admin role.",
                _ => $"{name} needs a signed-in user.",
            });
        EnsureWithinAccounts(message, name, required, user);
    }

    private static void EnsureWithinAccounts(object message, string name, SenderRole required, ICurrentUser user)
    {
        var scope = user.Accounts;
        if (scope.IsAll || message is INoAccountData)
            return;
        switch (message)
        {
            case IAccountScoped { ScopeAccountId: { } accountId }:
                if (required == SenderRole.Admin ? scope.MayAdminister(accountId) : scope.MayRead(accountId))
                    return;
                throw new ForbiddenException($"'{user.Name}' has no {(required == SenderRole.Admin ? "administrator " : "")}access to account {accountId}.");
            case IScopedByHandler when required < SenderRole.Admin:
                return;
            default:
                throw new ForbiddenException($"'{user.Name}' reaches only some accounts: {name} is for users of every account.");
        }
    }
}
