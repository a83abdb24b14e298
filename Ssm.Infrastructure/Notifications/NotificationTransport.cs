using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Ssm.Application.Notifications;
using Ssm.Domain.Notifications;

namespace Ssm.Infrastructure.Notifications;

/// <summary>Syslog through <see cref="SyslogClient"/>; e-mail through MailKit, STARTTLS required before anything is sent.</summary>
public sealed class NotificationTransport(ISecretProtector secrets) : INotificationTransport
{
    public Task SendAsync(NotificationChannel channel, NotificationSettings settings, Notification notification, CancellationToken cancellationToken) =>
        channel == NotificationChannel.Syslog
            ? SyslogClient.SendAsync(settings, notification, cancellationToken)
            : SendEmailAsync(settings, notification, cancellationToken);

    private async Task SendEmailAsync(NotificationSettings settings, Notification notification, CancellationToken cancellationToken)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(settings.EmailFrom));
        foreach (var to in settings.EmailTo)
            message.To.Add(MailboxAddress.Parse(to));
        message.Subject = notification.Subject;
        message.Body = new TextPart("plain") { Text = notification.Body };

        using var smtp = new SmtpClient();
        smtp.ServerCertificateValidationCallback = (_, certificate, _, errors) => TrustedServer.Check(settings.SmtpTrustedCaPem, certificate, errors);
        // StartTls (not StartTlsWhenAvailable): a relay that does not offer it gets nothing, least of all the password.
        await smtp.ConnectAsync(settings.SmtpHost, settings.SmtpPort, SecureSocketOptions.StartTls, cancellationToken);
        if (settings.SmtpUser != "")
            await smtp.AuthenticateAsync(settings.SmtpUser, secrets.Unprotect(settings.SmtpPasswordProtected), cancellationToken);
        await smtp.SendAsync(message, cancellationToken);
        await smtp.DisconnectAsync(true, cancellationToken);
    }
}
