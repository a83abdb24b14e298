using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Ssm.Tests.Support;

/// <summary>
/// An attacker's PostgreSQL client, written against the wire protocol so that it can choose what a driver will not:
/// its source address, no TLS at all, any client certificate. It goes as far as the server's first answer to the
/// start-up message: authenticated, or refused with the server's own message.
/// </summary>
public static class PostgresProbe
{
    public sealed record Outcome(bool Authenticated, string Detail)
    {
        public override string ToString() => Authenticated ? "authenticated" : $"refused: {Detail}";
    }

    public static async Task<Outcome> TryAsync(IPAddress server, int port, string user, string database, bool replication,
        bool useTls, X509Certificate2? clientCertificate, IPAddress? source = null)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (source is not null)
            socket.Bind(new IPEndPoint(source, 0));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(new IPEndPoint(server, port), timeout.Token);
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            if (useTls)
            {
                var request = new byte[8];
                BinaryPrimitives.WriteInt32BigEndian(request, 8);
                BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
                await stream.WriteAsync(request, timeout.Token);
                var answer = new byte[1];
                await stream.ReadExactlyAsync(answer, timeout.Token);
                if (answer[0] != (byte)'S')
                    return new Outcome(false, "the server offers no TLS");
                var tls = new SslStream(stream, false, (_, _, _, _) => true);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = server.ToString(),
                    ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                    LocalCertificateSelectionCallback = clientCertificate is null ? null : (_, _, _, _, _) => clientCertificate,
                }, timeout.Token);
                stream = tls;
            }
            var parameters = new StringBuilder($"user\0{user}\0database\0{database}\0");
            if (replication)
                parameters.Append("replication\0true\0");
            var body = Encoding.UTF8.GetBytes(parameters.Append('\0').ToString());
            var startup = new byte[8 + body.Length];
            BinaryPrimitives.WriteInt32BigEndian(startup, startup.Length);
            BinaryPrimitives.WriteInt32BigEndian(startup.AsSpan(4), 196608);
            body.CopyTo(startup, 8);
            await stream.WriteAsync(startup, timeout.Token);
            await stream.FlushAsync(timeout.Token);

            var header = new byte[5];
            await stream.ReadExactlyAsync(header, timeout.Token);
            var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            await stream.ReadExactlyAsync(payload, timeout.Token);
            return (char)header[0] switch
            {
                'R' when BinaryPrimitives.ReadInt32BigEndian(payload) == 0 => new Outcome(true, "authentication ok"),
                'R' => new Outcome(false, $"the server asks for authentication method {BinaryPrimitives.ReadInt32BigEndian(payload)}"),
                'E' => new Outcome(false, ErrorMessage(payload)),
                var other => new Outcome(false, $"unexpected message '{other}'"),
            };
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or SocketException)
        {
            return new Outcome(false, $"TLS or connection failed: {ex.Message}");
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    private static string ErrorMessage(byte[] payload)
    {
        var fields = Encoding.UTF8.GetString(payload).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        return fields.FirstOrDefault(f => f.StartsWith('M'))?[1..] ?? string.Join(" ", fields);
    }
}
