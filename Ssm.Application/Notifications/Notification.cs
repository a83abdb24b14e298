using Ssm.Domain.Notifications;

namespace Ssm.Application.Notifications;

public enum NotificationSeverity
{
    Notice,
    Warning,
    Error,
}

/// <summary>One notification: what happened, on which node, and what the operator should do.</summary>
public sealed record Notification(string Event, NotificationSeverity Severity, string What, string Node, string Action, DateTimeOffset At)
{
    public string Subject => $"SSM On-Prem {Node}: {What}";
    public string Body => $"{What}\n\nNode: {Node}\nWhen: {At:u}\nWhat to do: {Action}\n";
}

/// <summary>Sends a notification over one channel now; throws with an operator-facing message when it cannot.</summary>
public interface INotificationTransport
{
    Task SendAsync(NotificationChannel channel, NotificationSettings settings, Notification notification, CancellationToken cancellationToken);
}

/// <summary>Encrypts a secret for storage in the replicated database (the node's data protection keys).</summary>
public interface ISecretProtector
{
    string Protect(string secret);
    string Unprotect(string protectedSecret);
}
