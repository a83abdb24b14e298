using Microsoft.Extensions.Options;
using Ssm.Domain.Certificates;
using Ssm.Domain.Products;

namespace Ssm.Application.Ha;

public sealed record ProductToReRegister(Guid Id, string Udi, string Name, DateTimeOffset RegisteredAt);

/// <summary>
/// The seed's last step after <c>ha_teardown</c>, as far as it is done: the Host Common Name must name this node's own
/// address (no longer the VIP), CSC must have signed the certificate for it, and every product registered before
/// that must register again (it addresses the old name and is refused, naming both, until it does).
/// </summary>
public sealed record TeardownFollowUp(string? OldVip, string HostCommonName, string NodeAddress, bool NamesThisNode, bool CertificateSigned,
    int ProductsToReRegister, bool MoreProducts, IReadOnlyList<ProductToReRegister> Products)
{
    public const int Shown = 20;
    /// <summary>Counted up to this many: a million products are not counted on every status call.</summary>
    public const int CountLimit = 1000;

    public bool Done => NamesThisNode && CertificateSigned && ProductsToReRegister == 0;

    public string Text => !NamesThisNode
        ? $"The Host Common Name is still {(HostCommonName.Length == 0 ? "unset" : HostCommonName)}{(OldVip is not null && HostCommonName == OldVip ? " (the old VIP)" : "")}: "
          + $"set it to this node's address {NodeAddress} and synchronize, then let {ProductsText} register again."
        : !CertificateSigned ? $"The Host Common Name is {NodeAddress}; synchronize so that CSC signs the certificate for it."
        : ProductsToReRegister > 0 ? $"{ProductsText} registered under the old name must register again (force)."
        : "Done: the Host Common Name is this node's address, signed by CSC, and every product registered with it.";

    private string ProductsText => ProductsToReRegister == 0 ? "the products" : $"{ProductsToReRegister}{(MoreProducts ? "+" : "")} product(s)";
}

/// <summary>What is left of the seed's last step on a node that <c>ha_teardown</c> made standalone; null on any other node.</summary>
[Sender(SenderRole.Viewer)]
public sealed record GetTeardownFollowUp : IQuery<TeardownFollowUp?>, IScopedByHandler;

public sealed class GetTeardownFollowUpHandler(ClusterSupervisor supervisor, IQuerySession session, IOptions<NodeOptions> node, ICurrentUser user)
    : IQueryHandler<GetTeardownFollowUp, TeardownFollowUp?>
{
    public async ValueTask<TeardownFollowUp?> Handle(GetTeardownFollowUp query, CancellationToken cancellationToken)
    {
        if (supervisor.State is not { Deployed: false, TornDown: { } teardown })
            return null;
        var address = TeardownFollowUps.NodeAddressOf(node.Value);
        var certificate = await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId, cancellationToken);
        var name = certificate?.HostCommonName ?? "";
        var namesThisNode = name == address;
        // Registered before the name became this node's address: through the VIP, under the old name.
        var before = namesThisNode ? certificate!.NameSetAt : DateTimeOffset.MaxValue;
        // Ids only up to the limit (the id column, off the RegisteredAt index), then the few shown: the dashboard asks every second.
        var registered = session.Query<ProductInstance>().Where(p => p.RegisteredAt < before);
        if (!user.Accounts.IsAll)
        {
            // The products named are of the caller's accounts only.
            var reachable = user.Accounts.AccountIds.ToArray();
            registered = registered.Where(p => reachable.Contains(p.AccountId));
        }
        var stale = await registered.OrderBy(p => p.RegisteredAt)
            .Select(p => p.Id).Take(TeardownFollowUp.CountLimit + 1).ToListAsync(cancellationToken);
        var shown = stale.Take(TeardownFollowUp.Shown).ToArray();
        var products = shown.Length == 0 ? [] : await session.Query<ProductInstance>().Where(p => shown.Contains(p.Id)).OrderBy(p => p.RegisteredAt)
            .Select(p => new { p.Id, p.Pid, p.SerialNumber, p.Name, p.RegisteredAt }).ToListAsync(cancellationToken);
        return new TeardownFollowUp(teardown.Vip, name, address, namesThisNode, namesThisNode && !certificate!.IsStale,
            Math.Min(stale.Count, TeardownFollowUp.CountLimit), stale.Count > TeardownFollowUp.CountLimit,
            [.. products.Select(p => new ProductToReRegister(p.Id, ProductInstance.UdiOf(p.Pid, p.SerialNumber), p.Name, p.RegisteredAt))]);
    }
}

public static class TeardownFollowUps
{
    /// <summary>The address products reach this node at: its --listen host, as the Host Common Name would name it.</summary>
    public static string NodeAddressOf(NodeOptions node) => HostNameRules.Normalize(new Uri(node.Listen).Host.Trim('[', ']'));
}
