using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Ha;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// The loopback VIP provider with two holders on real sockets (decision 0021): the kernel's redirect follows whoever
/// took the VIP last, keeps the client's address, touches nothing but the VIP's own address and ports, and a
/// late release by the old holder leaves the new holder's redirect alone.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LoopbackVipTests : IAsyncLifetime
{
    private readonly string _net = $"127.{Random.Shared.Next(20, 250)}.{Random.Shared.Next(1, 250)}";
    private readonly List<TcpListener> _listeners = [];
    private readonly CancellationTokenSource _stop = new();
    private string Vip => $"{_net}.14";

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var listener in _listeners)
            listener.Stop();
        await NftRedirect.RemoveTableAsync(Vip);
    }

    /// <summary>A node's own listener on its address that answers each connection with its name and the client's address.</summary>
    private void Serve(string name, string address, int port)
    {
        var listener = new TcpListener(IPAddress.Parse(address), port);
        listener.Start();
        _listeners.Add(listener);
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var client = await listener.AcceptTcpClientAsync(_stop.Token);
                    var remote = (IPEndPoint)client.Client.RemoteEndPoint!;
                    await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"{name} {remote.Address}"), _stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
            {
            }
        });
    }

    private static async Task<string> AskAsync(string address, int port, string? source = null)
    {
        using var client = source is null ? new TcpClient() : new TcpClient(new IPEndPoint(IPAddress.Parse(source), 0));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await client.ConnectAsync(address, port, timeout.Token);
            var buffer = new byte[100];
            var read = await client.GetStream().ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode.ToString();
        }
        catch (IOException ex) when (ex.InnerException is SocketException socket)
        {
            // A connection made while the redirect was being rewritten can be aborted on its first read (seen under load).
            return socket.SocketErrorCode.ToString();
        }
    }

    /// <summary>The answer through the VIP once it is the expected one (the holder redirects in the background), or the last one.</summary>
    private static async Task<string> AskUntilAsync(string expected, string address, int port, string? source = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string answer;
        while ((answer = await AskAsync(address, port, source)) != expected && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        return answer;
    }

    private static LoopbackVip Holder(string name, string address, int port, ListLogger log, int productPort = 0) =>
        new(Options.Create(new NodeOptions { Name = name, Listen = $"http://{address}:{port}", ProductPort = productPort }), log);

    [Fact]
    public void The_VIP_carries_the_HTTP_HTTPS_and_product_ports_the_node_has()
    {
        LoopbackVip.PortsOf(new NodeOptions { Listen = "http://127.0.0.11:8080", HttpsPort = 8443, ProductPort = 443 }).ShouldBe([8080, 8443, 443]);
        LoopbackVip.PortsOf(new NodeOptions { Listen = "http://127.0.0.11:8080", HttpsPort = 8443 }).ShouldBe([8080, 8443]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_product_port_moves_with_the_VIP_by_kernel_redirect_and_by_relay(bool kernel)
    {
        // A --listen host that is a name cannot be a redirect target: the relay of decision 0005 carries the VIP then.
        var address = kernel ? $"{_net}.11" : "127.0.0.1";
        if (kernel && await NftRedirect.WhyNotAsync(Vip, address, CancellationToken.None) is { } reason)
            Assert.Skip(reason);
        var (port, productPort) = (PostgresServer.FreePort(), PostgresServer.FreePort());
        Serve("node", address, port);
        Serve("node-products", address, productPort);
        var log = new ListLogger();
        await using var holder = Holder("node", kernel ? address : "localhost", port, log, productPort);

        await holder.AcquireAsync(Vip, CancellationToken.None);

        // The holder redirects in the background: the first answers may still be refusals.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string answer;
        while (!(answer = await AskAsync(Vip, productPort)).StartsWith("node-products ") && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        answer.ShouldStartWith("node-products ");
        (await AskAsync(Vip, port)).ShouldStartWith("node ");
        await holder.ReleaseAsync();
        (await AskUntilAsync(nameof(SocketError.ConnectionRefused), Vip, productPort)).ShouldBe(nameof(SocketError.ConnectionRefused));
    }

    [Fact]
    public async Task The_redirect_follows_the_last_holder_keeps_the_client_address_and_survives_the_old_holder_letting_go()
    {
        if (await NftRedirect.WhyNotAsync(Vip, $"{_net}.11", CancellationToken.None) is { } reason)
            Assert.Skip(reason);
        // Where nft is installed, so is the library it is a front end of: the VIP moves without starting a program.
        Nftables.InProcess.ShouldBeTrue();
        var port = PostgresServer.FreePort();
        var other = PostgresServer.FreePort();
        Serve("primary", $"{_net}.11", port);
        Serve("secondary", $"{_net}.9", port);
        Serve("bystander", Vip, other);
        var (primaryLog, secondaryLog) = (new ListLogger(), new ListLogger());
        await using var primary = Holder("primary", $"{_net}.11", port, primaryLog);
        await using var secondary = Holder("secondary", $"{_net}.9", port, secondaryLog);

        (await AskAsync(Vip, port)).ShouldBe(nameof(SocketError.ConnectionRefused));
        await primary.AcquireAsync(Vip, CancellationToken.None);
        (await AskUntilAsync($"primary {_net}.77", Vip, port, source: $"{_net}.77")).ShouldBe($"primary {_net}.77");

        // The secondary takes the VIP while the primary does nothing at all (frozen).
        await secondary.AcquireAsync(Vip, CancellationToken.None);
        (await AskUntilAsync($"secondary {_net}.77", Vip, port, source: $"{_net}.77")).ShouldBe($"secondary {_net}.77");
        // Only the VIP's own ports are redirected, and nothing but the VIP.
        (await AskAsync(Vip, other, source: $"{_net}.77")).ShouldBe($"bystander {_net}.77");
        (await AskAsync($"{_net}.11", port, source: $"{_net}.77")).ShouldBe($"primary {_net}.77");

        // The old holder thaws and lets go: the new holder's redirect stays.
        await primary.ReleaseAsync();
        primaryLog.Lines.ShouldContain(l => l.Contains("already redirected to another node"));
        (await AskAsync(Vip, port, source: $"{_net}.77")).ShouldBe($"secondary {_net}.77");

        await secondary.ReleaseAsync();
        (await AskAsync(Vip, port)).ShouldBe(nameof(SocketError.ConnectionRefused));
        secondaryLog.Lines.ShouldContain(l => l.Contains("released: its redirect"));
    }

    [Fact]
    public async Task Where_the_kernel_cannot_redirect_the_holder_relays_the_VIP_and_says_why()
    {
        var port = PostgresServer.FreePort();
        Serve("node", "127.0.0.1", port);
        var log = new ListLogger();
        // A --listen host that is a name, not an address: no redirect target, so the relay of decision 0005.
        await using var holder = Holder("node", "localhost", port, log);
        await holder.AcquireAsync(Vip, CancellationToken.None);
        log.Lines.ShouldContain(l => l.Contains("no kernel redirect") && l.Contains("relaying it inside this process"));
        (await AskAsync(Vip, port)).ShouldStartWith("node ");
        await holder.ReleaseAsync();
        (await AskAsync(Vip, port)).ShouldBe(nameof(SocketError.ConnectionRefused));
    }

    private sealed class ListLogger : ILogger<LoopbackVip>
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
                Lines.Add(formatter(state, exception));
        }
    }
}
