using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Channels;

namespace Ssm.Tests.Features.Notifications;

/// <summary>A private CA and a server certificate for 127.0.0.1, as an operator's syslog server or SMTP relay would have.</summary>
public sealed class TestCa : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    public X509Certificate2 Root { get; }

    public TestCa(string name = "Notification Test CA")
    {
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        Root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    public string RootPem => Root.ExportCertificatePem();

    public X509Certificate2 IssueServer()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var issued = request.Create(Root, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(2), RandomNumberGenerator.GetBytes(8));
        // An exportable key, so that SslStream on Linux can use it.
        return X509Certificate2.CreateFromPem(issued.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    public void Dispose()
    {
        Root.Dispose();
        _key.Dispose();
    }
}

/// <summary>A syslog receiver on UDP: each datagram is one message.</summary>
public sealed class UdpSyslogReceiver : IDisposable
{
    private readonly UdpClient _udp = new(new IPEndPoint(IPAddress.Loopback, 0));
    public int Port => ((IPEndPoint)_udp.Client.LocalEndPoint!).Port;

    public async Task<string> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var result = await _udp.ReceiveAsync(cts.Token);
        return Encoding.UTF8.GetString(result.Buffer);
    }

    public void Dispose() => _udp.Dispose();
}

/// <summary>A syslog receiver on TCP with TLS (RFC 5425): octet-counted frames, any number of connections.</summary>
public sealed class TlsSyslogReceiver : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    public Channel<string> Messages { get; } = Channel.CreateUnbounded<string>();
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public TlsSyslogReceiver(X509Certificate2 certificate, int port = 0)
    {
        _certificate = certificate;
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = ServeAsync(client);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                var reader = new BufferedStream(tls);
                while (true)
                {
                    var length = new StringBuilder();
                    int b;
                    while ((b = reader.ReadByte()) is >= '0' and <= '9')
                        length.Append((char)b);
                    if (b != ' ')
                        return;
                    var frame = new byte[int.Parse(length.ToString())];
                    await reader.ReadExactlyAsync(frame, _stop.Token);
                    await Messages.Writer.WriteAsync(Encoding.UTF8.GetString(frame));
                }
            }
            catch (Exception)
            {
                // A client that failed the handshake or went away: what a real receiver shrugs off too.
            }
        }
    }

    public async Task<string> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await Messages.Reader.ReadAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
    }
}

/// <summary>
/// Debian's python3-aiosmtpd as the SMTP relay: STARTTLS required, AUTH LOGIN/PLAIN only after it, one user; every
/// message it takes is printed to standard output as one line.
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    private const string Script = """
        import asyncio, ssl, sys, json
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult
        port, cert, key, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        class Handler:
            async def handle_DATA(self, server, session, envelope):
                print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos, "tls": session.ssl is not None,
                                  "user": session.authenticated and session.auth_data.login.decode(),
                                  "data": envelope.content.decode("utf-8", "replace")}), flush=True)
                return "250 OK"
        def auth(server, session, envelope, mechanism, data):
            ok = data.login.decode() == user and data.password.decode() == password
            return AuthResult(success=ok, handled=False, auth_data=data)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                                authenticator=auth, auth_require_tls=True, auth_required=True)
        controller.start()
        print("ready", flush=True)
        sys.stdin.read()
        controller.stop()
        """;

    private readonly Process _process;
    public Channel<string> Lines { get; } = Channel.CreateUnbounded<string>();
    public int Port { get; }

    private SmtpSink(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public static async Task<SmtpSink> StartAsync(string folder, X509Certificate2 certificate, string user, string password)
    {
        Directory.CreateDirectory(folder);
        var script = Path.Combine(folder, "smtp_sink.py");
        await File.WriteAllTextAsync(script, Script);
        var cert = Path.Combine(folder, "server.crt");
        var key = Path.Combine(folder, "server.key");
        await File.WriteAllTextAsync(cert, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(key, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var port = Ssm.Tests.Support.PostgresServer.FreePort();
        // Debian's own interpreter, where apt installs python3-aiosmtpd (a python3 of pyenv on PATH would not see it).
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var argument in new[] { script, port.ToString(), cert, key, user, password })
            start.ArgumentList.Add(argument);
        var sink = new SmtpSink(Process.Start(start)!, port);
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        sink._process.OutputDataReceived += (_, e) => { if (e.Data is not null) sink.Lines.Writer.TryWrite(e.Data); };
        sink._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) errors.Enqueue(e.Data); };
        sink._process.BeginOutputReadLine();
        sink._process.BeginErrorReadLine();
        using var ready = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            (await sink.Lines.Reader.ReadAsync(ready.Token)).ShouldBe("ready");
        }
        catch (OperationCanceledException)
        {
            await sink.DisposeAsync();
            throw new InvalidOperationException($"the SMTP relay ({python}, aiosmtpd) did not start within 30 s: {string.Join(" | ", errors)}");
        }
        return sink;
    }

    public async Task<string> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await Lines.Reader.ReadAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
