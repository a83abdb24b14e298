namespace Ssm.Domain.Notifications;

public enum SyslogTransport
{
    /// <summary>RFC 5426: one message per datagram, no delivery guarantee.</summary>
    Udp,
    /// <summary>RFC 5425: TLS over TCP, octet-counted frames.</summary>
    TcpTls,
}

public enum NotificationChannel
{
    Syslog,
    Email,
}

/// <summary>Where the node sends its notifications: a syslog server and an SMTP relay, each off until configured.</summary>
public sealed class NotificationSettings
{
    public const string SingletonId = "notifications";

    public string Id { get; set; } = SingletonId;

    public bool SyslogEnabled { get; set; }
    public string SyslogHost { get; set; } = "";
    public int SyslogPort { get; set; } = 514;
    public SyslogTransport SyslogTransport { get; set; }
    /// <summary>PEM of the CA that signed the syslog server's certificate, when it is not one the system trusts.</summary>
    public string SyslogTrustedCaPem { get; set; } = "";

    public bool EmailEnabled { get; set; }
    public string SmtpHost { get; set; } = "";
    public int SmtpPort { get; set; } = 587;
    public string SmtpUser { get; set; } = "";
    /// <summary>The SMTP password, encrypted with the node's data protection keys; never stored or shown in clear.</summary>
    public string SmtpPasswordProtected { get; set; } = "";
    public string SmtpTrustedCaPem { get; set; } = "";
    public string EmailFrom { get; set; } = "";
    public List<string> EmailTo { get; set; } = [];

    /// <summary>A product that has not reported for this many days is notified about.</summary>
    public int ProductSilentDays { get; set; } = 7;

    public bool Enabled(NotificationChannel channel) => channel == NotificationChannel.Syslog ? SyslogEnabled : EmailEnabled;
}
