using Ssm.Domain.Notifications;

namespace Ssm.Application.Notifications;

/// <summary>The settings as an admin sees them: the SMTP password only as "set" or not.</summary>
public sealed record NotificationSettingsDto(
    bool SyslogEnabled, string SyslogHost, int SyslogPort, SyslogTransport SyslogTransport, string SyslogTrustedCaPem,
    bool EmailEnabled, string SmtpHost, int SmtpPort, string SmtpUser, bool SmtpPasswordSet, string SmtpTrustedCaPem,
    string EmailFrom, IReadOnlyList<string> EmailTo, int ProductSilentDays)
{
    public static NotificationSettingsDto From(NotificationSettings s) => new(s.SyslogEnabled, s.SyslogHost, s.SyslogPort, s.SyslogTransport,
        s.SyslogTrustedCaPem, s.EmailEnabled, s.SmtpHost, s.SmtpPort, s.SmtpUser, s.SmtpPasswordProtected != "", s.SmtpTrustedCaPem, s.EmailFrom,
        s.EmailTo, s.ProductSilentDays);
}

[Sender(SenderRole.Admin)]
public sealed record GetNotificationSettings : IQuery<NotificationSettingsDto>;

public sealed class GetNotificationSettingsHandler(IQuerySession session) : IQueryHandler<GetNotificationSettings, NotificationSettingsDto>
{
    public async ValueTask<NotificationSettingsDto> Handle(GetNotificationSettings query, CancellationToken cancellationToken) =>
        NotificationSettingsDto.From(await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId, cancellationToken)
                                     ?? new NotificationSettings());
}
