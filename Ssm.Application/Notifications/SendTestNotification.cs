using Microsoft.Extensions.Options;
using Ssm.Application.Ha;
using Ssm.Domain.Events;
using Ssm.Domain.Notifications;

namespace Ssm.Application.Notifications;

/// <summary>The "Send test" button: sends one notification over the channel now, with the stored settings, and says why it failed.</summary>
[Sender(SenderRole.Admin)]
public sealed record SendTestNotification(NotificationChannel Channel) : ICommand<string>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => $"{Channel} test";
}

public sealed class SendTestNotificationValidator : AbstractValidator<SendTestNotification>
{
    public SendTestNotificationValidator() => RuleFor(x => x.Channel).IsInEnum();
}

public sealed class SendTestNotificationHandler(IDocumentSession session, INotificationTransport transport, ICurrentUser user, IClock clock,
    IOptions<NodeOptions> node) : ICommandHandler<SendTestNotification, string>
{
    public async ValueTask<string> Handle(SendTestNotification command, CancellationToken cancellationToken)
    {
        var settings = await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId, cancellationToken);
        if (settings is null || !settings.Enabled(command.Channel))
            throw new ConflictException($"{command.Channel} notifications are not set up: save the settings with it enabled first.");
        var test = new Notification("Test", NotificationSeverity.Notice, $"Test notification from SSM On-Prem, sent by {user.Name}.", node.Value.Name,
            "Nothing: this was a test. Cluster events will arrive like this.", clock.UtcNow);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        try
        {
            await transport.SendAsync(command.Channel, settings, test, timeout.Token);
        }
        catch (Exception ex) when (ex is not ConflictException && !cancellationToken.IsCancellationRequested)
        {
            throw new ConflictException($"The test {command.Channel} notification was not delivered: {(ex is OperationCanceledException ? "no answer within 15 s" : ex.Message)}");
        }
        var where = command.Channel == NotificationChannel.Syslog
            ? $"{settings.SyslogHost}:{settings.SyslogPort} ({settings.SyslogTransport})"
            : $"{string.Join(", ", settings.EmailTo)} via {settings.SmtpHost}:{settings.SmtpPort}";
        session.RecordSuccess(command, user, clock, $"sent to {where}");
        await session.SaveChangesAsync(cancellationToken);
        return $"Test notification sent to {where}.";
    }
}
