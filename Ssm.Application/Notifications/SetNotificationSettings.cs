using System.Net.Mail;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ssm.Domain.Events;
using Ssm.Domain.Notifications;

namespace Ssm.Application.Notifications;

/// <summary>
/// Sets where notifications go. <paramref name="SmtpPassword"/>: null keeps the stored one, "" removes it; it is
/// stored encrypted with the node's data protection keys.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record SetNotificationSettings(
    bool SyslogEnabled, string SyslogHost, int SyslogPort, SyslogTransport SyslogTransport, string SyslogTrustedCaPem,
    bool EmailEnabled, string SmtpHost, int SmtpPort, string SmtpUser, string? SmtpPassword, string SmtpTrustedCaPem,
    string EmailFrom, IReadOnlyList<string> EmailTo, int ProductSilentDays = 7) : ICommand<NotificationSettingsDto>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => "notifications";

    // The password never reaches a log line.
    public override string ToString() => $"SetNotificationSettings {{ Syslog = {SyslogEnabled} {SyslogHost}:{SyslogPort} {SyslogTransport}, " +
                                         $"Email = {EmailEnabled} {SmtpHost}:{SmtpPort} }}";
}

public sealed class SetNotificationSettingsValidator : AbstractValidator<SetNotificationSettings>
{
    public const int MaxRecipients = 20;

    public SetNotificationSettingsValidator()
    {
        RuleFor(x => x.SyslogHost).NotNull().MaximumLength(253).Must(NoSpaces).Printable();
        RuleFor(x => x.SyslogHost).NotEmpty().When(x => x.SyslogEnabled).WithMessage("The syslog server's host is required.");
        RuleFor(x => x.SyslogPort).InclusiveBetween(1, 65535);
        RuleFor(x => x.SyslogTransport).IsInEnum();
        RuleFor(x => x.SyslogTrustedCaPem).NotNull().MaximumLength(20_000).Must(IsCertificateOrEmpty)
            .WithMessage("The syslog server's CA must be a PEM certificate (or empty to trust the system's CAs).");
        RuleFor(x => x.SmtpHost).NotNull().MaximumLength(253).Must(NoSpaces).Printable();
        RuleFor(x => x.SmtpHost).NotEmpty().When(x => x.EmailEnabled).WithMessage("The SMTP relay's host is required.");
        RuleFor(x => x.SmtpPort).InclusiveBetween(1, 65535);
        RuleFor(x => x.SmtpUser).NotNull().MaximumLength(200).Printable();
        RuleFor(x => x.SmtpPassword).MaximumLength(200);
        RuleFor(x => x.SmtpTrustedCaPem).NotNull().MaximumLength(20_000).Must(IsCertificateOrEmpty)
            .WithMessage("The SMTP relay's CA must be a PEM certificate (or empty to trust the system's CAs).");
        RuleFor(x => x.EmailFrom).NotNull().Must(a => a == "" || IsAddress(a)).WithMessage("The sender must be an e-mail address.");
        RuleFor(x => x.EmailFrom).NotEmpty().When(x => x.EmailEnabled).WithMessage("The sender address is required.");
        RuleFor(x => x.EmailTo).NotNull().Must(t => t.Count <= MaxRecipients).WithMessage($"At most {MaxRecipients} recipients.");
        RuleForEach(x => x.EmailTo).Must(IsAddress).WithMessage("'{PropertyValue}' is not an e-mail address.");
        RuleFor(x => x.EmailTo).Must(t => t.Count > 0).When(x => x.EmailEnabled).WithMessage("At least one recipient is required.");
        RuleFor(x => x.ProductSilentDays).InclusiveBetween(1, 365);
    }

    private static bool NoSpaces(string? host) => host is null || !host.Any(char.IsWhiteSpace);

    private static bool IsAddress(string? address) =>
        address is { Length: > 2 and <= 254 } && !address.Any(char.IsControl) && MailAddress.TryCreate(address, out var parsed) && parsed.Address == address;

    private static bool IsCertificateOrEmpty(string? pem)
    {
        if (string.IsNullOrWhiteSpace(pem))
            return true;
        try
        {
            using var certificate = X509Certificate2.CreateFromPem(pem);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}

public sealed class SetNotificationSettingsHandler(IDocumentSession session, ISecretProtector secrets, ICurrentUser user, IClock clock)
    : ICommandHandler<SetNotificationSettings, NotificationSettingsDto>
{
    public async ValueTask<NotificationSettingsDto> Handle(SetNotificationSettings c, CancellationToken cancellationToken)
    {
        var settings = await session.LoadAsync<NotificationSettings>(NotificationSettings.SingletonId, cancellationToken) ?? new NotificationSettings();
        settings.SyslogEnabled = c.SyslogEnabled;
        settings.SyslogHost = c.SyslogHost.Trim();
        settings.SyslogPort = c.SyslogPort;
        settings.SyslogTransport = c.SyslogTransport;
        settings.SyslogTrustedCaPem = c.SyslogTrustedCaPem.Trim();
        settings.EmailEnabled = c.EmailEnabled;
        settings.SmtpHost = c.SmtpHost.Trim();
        settings.SmtpPort = c.SmtpPort;
        settings.SmtpUser = c.SmtpUser.Trim();
        if (c.SmtpPassword is { } password)
            settings.SmtpPasswordProtected = password == "" ? "" : secrets.Protect(password);
        settings.SmtpTrustedCaPem = c.SmtpTrustedCaPem.Trim();
        settings.EmailFrom = c.EmailFrom;
        settings.EmailTo = c.EmailTo.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        settings.ProductSilentDays = c.ProductSilentDays;
        session.Store(settings);
        session.RecordSuccess(c, user, clock,
            $"syslog {(c.SyslogEnabled ? $"{c.SyslogHost}:{c.SyslogPort} {c.SyslogTransport}" : "off")}, e-mail {(c.EmailEnabled ? $"via {c.SmtpHost}:{c.SmtpPort}" : "off")}");
        await session.SaveChangesAsync(cancellationToken);
        return NotificationSettingsDto.From(settings);
    }
}
