using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Ssm.Application.Notifications;
using Ssm.Domain.Notifications;

namespace Ssm.Infrastructure.Notifications;

/// <summary>RFC 5424 messages over UDP (RFC 5426) or over TLS on TCP with octet-counted frames (RFC 5425).</summary>
public static class SyslogClient
{
    private const int Local0 = 16;
    // RFC 5426: a receiver must take 480 octets and should take 2048; longer datagrams may be cut or dropped.
    private const int MaxDatagram = 2048;

    public static string Format(Notification n, DateTimeOffset at)
    {
        var severity = n.Severity switch { NotificationSeverity.Error => 3, NotificationSeverity.Warning => 4, _ => 5 };
        var host = Field(n.Node, 255);
        var sd = $"[ssm@32473 event=\"{Param(n.Event)}\" node=\"{Param(n.Node)}\"]";
        return $"<{Local0 * 8 + severity}>1 {at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)} {host} ssm " +
               $"{Environment.ProcessId} {Field(n.Event, 32)} {sd} \uFEFF{Clean(n.What)} What to do: {Clean(n.Action)}";
    }

    public static async Task SendAsync(NotificationSettings settings, Notification notification, CancellationToken cancellationToken)
    {
        var message = Encoding.UTF8.GetBytes(Format(notification, notification.At));
        if (settings.SyslogTransport == SyslogTransport.Udp)
        {
            using var udp = new UdpClient();
            await udp.SendAsync(message.AsMemory(0, Math.Min(message.Length, MaxDatagram)), settings.SyslogHost, settings.SyslogPort, cancellationToken);
            return;
        }
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(settings.SyslogHost, settings.SyslogPort, cancellationToken);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false,
            (_, certificate, _, errors) => TrustedServer.Check(settings.SyslogTrustedCaPem, certificate, errors));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = settings.SyslogHost }, cancellationToken);
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"{message.Length} "), cancellationToken);
        await tls.WriteAsync(message, cancellationToken);
        await tls.FlushAsync(cancellationToken);
        await tls.ShutdownAsync();
    }

    // HOSTNAME, MSGID: printable US-ASCII without spaces, or the nil value.
    private static string Field(string value, int max)
    {
        var clean = new string(value.Where(c => c is > ' ' and < (char)127).Take(max).ToArray());
        return clean.Length == 0 ? "-" : clean;
    }

    private static string Param(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("]", "\\]");

    private static string Clean(string value) => new(value.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
}
