using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Ssm.Application.Ha;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// The `loopback` VIP provider for one machine (decision 0021). As root with nftables, the kernel redirects the
/// VIP to the holder (<see cref="NftRedirect"/>), so the VIP moves even away from a frozen holder; otherwise the
/// holder relays it inside its own process (<see cref="LoopbackRelay"/>, decision 0005), and says so once.
/// </summary>
public sealed class LoopbackVip(IOptions<NodeOptions> node, ILogger<LoopbackVip> logger) : IVip, IAsyncDisposable
{
    private readonly string _own = new Uri(node.Value.Listen).Host.Trim('[', ']');
    private readonly int[] _ports = PortsOf(node.Value);
    // Acquire and release never interleave: a release during an acquire must win.
    private readonly SemaphoreSlim _gate = new(1, 1);
    // Asked once at start, so that no takeover waits for it.
    private readonly Task<string?> _kernel = Task.Run(() => NftRedirect.KernelWhyNotAsync(CancellationToken.None));
    private NftRedirect? _redirect;
    private LoopbackRelay? _relay;

    public string Provider => "loopback";
    public string? Address { get; private set; }
    public bool Held { get; private set; }
    // A relay cannot be (both would bind the address). The kernel redirect could, but its new holder makes the redirect in
    // the background after it claims the address, and an old holder letting go in between removed the only redirect: the
    // dashboard was refused through the VIP after a handover (HaBrowserTests, clean-clone run). On one machine the old
    // holder therefore lets go before the standby promotes; clients meet a refused connection, which they retry at once.
    public bool CanBeTakenWhileHeld => false;

    /// <summary>The HTTP port, the HTTPS port and the product port, those the node has: each carried to the same port of the node.</summary>
    public static int[] PortsOf(NodeOptions node) =>
        [new Uri(node.Listen).Port, .. new[] { node.HttpsPort, node.ProductPort }.Where(p => p > 0)];

    public async Task AcquireAsync(string address, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (Held)
                return;
            if (address != Address || (_redirect is null && _relay is null))
                await ChooseAsync(address);
            if (_redirect is not null)
            {
                // Claimed now, redirected in the background: a takeover renews its lease only after this returns, and
                // nft is a process to start (up to a second on two loaded cores). Nobody else serves the VIP meanwhile.
                Held = true;
                _ = RedirectHereAsync(_redirect, address);
                return;
            }
            await _relay!.AcquireAsync(address, cancellationToken);
            Held = true;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task RedirectHereAsync(NftRedirect redirect, string address)
    {
        await _gate.WaitAsync();
        try
        {
            // Released (or moved to another address) before it came to this: nothing to do.
            if (!Held || redirect != _redirect || redirect.Installed)
                return;
            await redirect.PointHereAsync(CancellationToken.None);
            logger.LogInformation("VIP {Address}:{Ports} acquired: the kernel redirects it to {Target} (nftables table {Table})",
                address, string.Join(",", _ports), _own, NftRedirect.TableOf(address));
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // The supervisor tries again at its next heartbeat.
            Held = false;
            logger.LogWarning("VIP {Address} not redirected yet ({Error}); retrying every heartbeat", address, ex.Message);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task ChooseAsync(string address)
    {
        Address = address;
        if (_relay is not null)
            await _relay.DisposeAsync();
        (_redirect, _relay) = (null, null);
        if ((NftRedirect.WhyNot(address, _own) ?? await _kernel) is { } reason)
        {
            logger.LogWarning("VIP {Address}: no kernel redirect ({Reason}); relaying it inside this process instead, so a frozen node "
                + "keeps the VIP until it thaws (decision 0021)", address, reason);
            _relay = new LoopbackRelay(node.Value, logger);
        }
        else
            _redirect = new NftRedirect(address, _own, _ports, node.Value.Name);
    }

    public async Task ReleaseAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (!Held)
                return;
            if (_relay is not null)
                await _relay.ReleaseAsync();
            else if (!_redirect!.Installed)
                logger.LogInformation("VIP {Address} released before its redirect was made", Address);
            else if (await _redirect.ReleaseAsync())
                logger.LogInformation("VIP {Address} released: its redirect to {Target} removed", Address, _own);
            else
                logger.LogInformation("VIP {Address} already redirected to another node (its takeover replaced this node's redirect): left as it is", Address);
            Held = false;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync() => await ReleaseAsync();
}

/// <summary>The `external` provider: keepalived or a load balancer moves the address; the node only reports.</summary>
public sealed class ExternalVip : IVip
{
    public string Provider => "external";
    public string? Address { get; private set; }
    public bool Held { get; private set; }

    public Task AcquireAsync(string address, CancellationToken cancellationToken)
    {
        Address = address;
        Held = true;
        return Task.CompletedTask;
    }

    public Task ReleaseAsync()
    {
        Held = false;
        return Task.CompletedTask;
    }
}
