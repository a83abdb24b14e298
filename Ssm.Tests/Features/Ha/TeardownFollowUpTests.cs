using Marten;
using Mediator;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Domain.Certificates;
using Ssm.Domain.Products;
using Bunit;
using Ssm.Tests.Components;
using Ssm.Tests.Features.Products;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Ha;
using Ssm.Web.Console;
using Ssm.Web.Hosting;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Ha;

/// <summary>
/// The seed's last step on a node that ha_teardown made standalone: ha_status and the dashboard say the Host Common
/// Name still names the old VIP, list the products that must register again, and one action sets the node's address.
/// The node's services run in-process on the shared database, started from a state file that says "torn down"; the
/// High Availability page is rendered (bUnit) on those services.
/// </summary>
[Collection(CoreCollection.Name)]
public sealed class TeardownFollowUpTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string OldVip = "127.0.0.14";
    private const string NodeAddress = "127.0.0.11";
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ssm-teardown-{Guid.NewGuid():N}");
    private ServiceProvider? _node;

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();

    public async ValueTask DisposeAsync()
    {
        if (_node is not null)
            await _node.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }

    /// <summary>A standalone node at 127.0.0.11 whose state file says ha_teardown dissolved the cluster of VIP 127.0.0.14.</summary>
    private async Task<ServiceProvider> TornDownNodeAsync()
    {
        Directory.CreateDirectory(_data);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Ssm"] = fixture.ConnectionString,
            ["Node:Name"] = "primary",
            ["Node:Listen"] = $"http://{NodeAddress}:8080",
            ["Node:DataDirectory"] = _data,
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSsmCore(configuration);
        _node = services.BuildServiceProvider();
        _node.GetRequiredService<ILocalStateStore>().Save(new LocalNodeState
        {
            LastRole = Ssm.Domain.Nodes.NodeRole.Standalone, TornDown = new ClusterTeardown("primary", DateTimeOffset.UtcNow.AddHours(-1), "secondary", OldVip),
        });
        await _node.GetRequiredService<ClusterSupervisor>().StartAsync(CancellationToken.None);
        return _node;
    }

    private static async Task<T> SendAsync<T>(ServiceProvider node, IMessage message, string role = CurrentUser.AdminRole)
    {
        await using var scope = node.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = CurrentUser.For("alice", role);
        return (T)(await scope.ServiceProvider.GetRequiredService<ISender>().Send((object)message))!;
    }

    private async Task<(ProductInstance A, ProductInstance B)> SeedAsync()
    {
        var account = await fixture.Send(new CreateAccount("Lab", "", "ops@example.com"));
        var (a, b) = (ProductData.Instance(account.Id, "edge-a", "C9300", "A1"), ProductData.Instance(account.Id, "edge-b", "C9300", "B1", minutes: 5));
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        session.Store(a, b);
        using var key = System.Security.Cryptography.ECDsa.Create();
        using var signed = new System.Security.Cryptography.X509Certificates.CertificateRequest($"CN={OldVip}", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        session.Store(new ServerCertificate
        {
            HostCommonName = OldVip, SignedFor = OldVip, CertificatePem = signed.ExportCertificatePem(), PrivateKeyPem = key.ExportPkcs8PrivateKeyPem(),
        });
        await session.SaveChangesAsync();
        return (a, b);
    }

    private async Task<string?> HostCommonNameAsync()
    {
        await using var session = fixture.Query();
        return (await session.LoadAsync<ServerCertificate>(ServerCertificate.SingletonId))?.HostCommonName;
    }

    [Fact]
    public async Task Ha_status_says_the_Host_Common_Name_still_names_the_old_VIP_and_lists_the_products_to_register_again()
    {
        var (a, b) = await SeedAsync();
        var node = await TornDownNodeAsync();

        var status = await SendAsync<HaStatus>(node, new GetHaStatus(), CurrentUser.ViewerRole);

        var followUp = status.FollowUp.ShouldNotBeNull();
        (followUp.OldVip, followUp.HostCommonName, followUp.NodeAddress, followUp.NamesThisNode, followUp.Done)
            .ShouldBe((OldVip, OldVip, NodeAddress, false, false));
        followUp.Products.Select(p => p.Udi).ShouldBe([a.Udi, b.Udi]);
        var text = HaCommands.Render(status);
        text.ShouldContain($"Host CN        {OldVip} = the old VIP; this node is {NodeAddress}");
        text.ShouldContain($"Re-register    {a.Udi}");
        text.ShouldContain($"Use {NodeAddress} and synchronize");
    }

    [Fact]
    public async Task The_action_sets_the_nodes_own_address_and_only_products_registered_before_it_must_register_again()
    {
        var (a, b) = await SeedAsync();
        var node = await TornDownNodeAsync();

        var result = await SendAsync<TeardownFollowUpResult>(node, new AdoptNodeAddressAfterTeardown());

        (await HostCommonNameAsync()).ShouldBe(NodeAddress);
        (result.FollowUp.NamesThisNode, result.FollowUp.CertificateSigned, result.FollowUp.ProductsToReRegister).ShouldBe((true, false, 2));
        // A product that registers again (force) is a new instance registered after the name changed: it drops out of the list.
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Delete<ProductInstance>(a.Id);
            var again = ProductData.Instance(a.AccountId, "edge-a", "C9300", "A1");
            again.RegisteredAt = DateTimeOffset.UtcNow.AddSeconds(1);
            session.Store(again);
            await session.SaveChangesAsync();
        }
        var followUp = (await SendAsync<TeardownFollowUp?>(node, new GetTeardownFollowUp(), CurrentUser.ViewerRole)).ShouldNotBeNull();
        followUp.Products.ShouldHaveSingleItem().Udi.ShouldBe(b.Udi);
    }

    [Fact]
    public async Task The_High_Availability_page_offers_an_admin_the_action_and_its_click_sets_the_nodes_address()
    {
        var (a, b) = await SeedAsync();
        var node = await TornDownNodeAsync();
        await using var context = ComponentTestContext.Create(node, "alice", CurrentUser.AdminRole);

        var cut = context.Render<HighAvailability>();

        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=teardown-follow-up-text]").TextContent.ShouldContain($"{OldVip} (the old VIP)");
            cut.Find("[data-testid=teardown-follow-up]").TextContent.ShouldContain($"still names the old VIP; this node is {NodeAddress}");
            cut.FindAll("[data-testid=reregister-row]").Select(r => r.TextContent).ShouldBe([$"{a.Udi}edge-a{Utc(a)}", $"{b.Udi}edge-b{Utc(b)}"]);
            cut.Find("[data-testid=adopt-node-address]").TextContent.ShouldBe($"Use {NodeAddress} and synchronize");
        });
        (await HostCommonNameAsync()).ShouldBe(OldVip);

        await cut.ClickAsync("adopt-node-address");

        (await HostCommonNameAsync()).ShouldBe(NodeAddress);
        // No CSC here: the name is set, the synchronization says why it did not get it signed, and the page says what is left.
        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=teardown-follow-up-text]").TextContent
                .ShouldBe($"The Host Common Name is {NodeAddress}; synchronize so that CSC signs the certificate for it.");
            cut.Find("[data-testid=teardown-follow-up]").TextContent.ShouldNotContain("still names the old VIP");
            cut.Find("[data-testid=adopt-problem]").TextContent.ShouldStartWith("The synchronization did not complete: ");
        });
    }

    [Fact]
    public async Task A_viewer_sees_the_follow_up_and_the_products_but_not_the_action()
    {
        await SeedAsync();
        var node = await TornDownNodeAsync();
        await using var context = ComponentTestContext.Create(node, "victor", CurrentUser.ViewerRole);

        var cut = context.Render<HighAvailability>();

        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=teardown-follow-up-text]").TextContent.ShouldContain($"set it to this node's address {NodeAddress}");
            cut.FindAll("[data-testid=reregister-row]").Count.ShouldBe(2);
        });
        cut.FindAll("[data-testid=adopt-node-address]").ShouldBeEmpty();
        (await HostCommonNameAsync()).ShouldBe(OldVip);
    }

    private static string Utc(ProductInstance product) => product.RegisteredAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm");

    [Fact]
    public async Task Only_an_admin_on_a_node_made_standalone_by_ha_teardown_takes_the_action_else_nothing_changes()
    {
        await SeedAsync();

        // The fixture's node was never in a cluster.
        (await fixture.Send(new GetTeardownFollowUp())).ShouldBeNull();
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new AdoptNodeAddressAfterTeardown()));
        var node = await TornDownNodeAsync();
        await Should.ThrowAsync<ForbiddenException>(() => SendAsync<TeardownFollowUpResult>(node, new AdoptNodeAddressAfterTeardown(), CurrentUser.ViewerRole));

        (await HostCommonNameAsync()).ShouldBe(OldVip);
    }
}
