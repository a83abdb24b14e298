using Bunit;
using Marten;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;
using Ssm.Tests.Features.Products;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Dashboard;
using Ssm.Web.Components.Pages.Licenses;
using Ssm.Web.Components.Pages.Products;
using Ssm.Web.Components.Pages.Registration;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

/// <summary>The Product Instances, Licenses and Registration Tokens pages and the dashboard's product counters.</summary>
[Collection(CoreCollection.Name)]
public sealed class ProductPagesTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string Dna = "regid.2017-07.com.cisco.DNA_Advantage";
    private const string Nx = "regid.2017-07.com.cisco.NX_Essentials";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<Guid> AccountAsync(string name) => (await fixture.Send(new CreateAccount(name, "", "ops@example.com"))).Id;

    private static string[] RowUdis(IRenderedComponent<ProductInstances> cut) =>
        cut.FindAll("[data-testid=product-row]").Select(r => r.GetAttribute("data-udi")!).ToArray();

    [Fact]
    public async Task The_product_instances_page_pages_searches_and_shows_details()
    {
        var lab = await AccountAsync("Lab");
        var until = DateTimeOffset.UtcNow.AddHours(1);
        var core = ProductData.Instance(lab, "core-router", "ISR4331", "FDO42", 99);
        await fixture.StoreAsync([
            .. Enumerable.Range(0, 24).Select(i => ProductData.Instance(lab, $"edge-{i:D2}", "C9300-24T", $"FOC{i:D4}", i)),
            core, ProductData.Using(core, new LicenseUse(Dna, 2, until)),
        ]);
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.ViewerRole);

        var cut = context.Render<ProductInstances>();

        // Rows, total and order may arrive in separate renders: each is awaited, not read once.
        cut.WaitForAssertion(() =>
        {
            cut.FindAll("[data-testid=product-row]").Count.ShouldBe(20);
            cut.Find("[data-testid=product-total]").TextContent.ShouldBe("25 product instances");
            RowUdis(cut)[0].ShouldBe("ISR4331:FDO42");
        }, Wait);
        cut.FindAll("[data-testid=remove-product]").ShouldBeEmpty();

        IRenderedComponent<IComponent> page = cut;
        page.Input("product-search").Input("fdo4");
        cut.WaitForAssertion(() =>
        {
            RowUdis(cut).ShouldBe(["ISR4331:FDO42"]);
            cut.Find("[data-testid=product-total]").TextContent.ShouldBe("1 product instance");
        }, Wait);

        await cut.ClickAsync("product-details-toggle");
        cut.WaitForAssertion(() =>
        {
            var details = cut.Find("[data-testid=product-details]");
            details.GetAttribute("data-udi").ShouldBe("ISR4331:FDO42");
            cut.Find("[data-testid=detail-host]").TextContent.ShouldBe("core-router.lab.example");
            cut.Find("[data-testid=detail-type]").TextContent.ShouldBe("Router");
            cut.Find("[data-testid=detail-certificate]").TextContent.ShouldBe(ProductData.Epoch.AddYears(1).ToString("yyyy-MM-dd HH:mm"));
            cut.Find($"[data-testid=detail-usage][data-tag='{Dna}']").TextContent.ShouldContain("2");
        }, Wait);
    }

    [Fact]
    public async Task An_admin_removes_an_instance_after_confirming_and_new_registrations_appear_live()
    {
        var lab = await AccountAsync("Lab");
        var doomed = ProductData.Instance(lab, "alpha", "C9300", "A1");
        await fixture.StoreAsync(doomed, ProductData.Instance(lab, "bravo", "C9300", "B1"));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<ProductInstances>();
        cut.WaitForAssertion(() => RowUdis(cut).ShouldBe(["C9300:A1", "C9300:B1"]), Wait);

        await cut.ClickAsync("remove-product", 0);
        cut.WaitForElement("[data-testid=remove-confirmation]", Wait).TextContent.ShouldContain("C9300:A1");
        await cut.ClickAsync("confirm-remove");

        cut.WaitForAssertion(() => RowUdis(cut).ShouldBe(["C9300:B1"]), Wait);
        await using (var session = fixture.Query())
            (await session.LoadAsync<ProductInstance>(doomed.Id)).ShouldBeNull();

        // Someone else's registration: the product endpoint stores it and publishes Products.
        await fixture.StoreAsync(ProductData.Instance(lab, "charlie", "C9300", "C1"));
        fixture.Notifier.Publish(ChangeTopic.Products);
        cut.WaitForAssertion(() => RowUdis(cut).ShouldBe(["C9300:B1", "C9300:C1"]), Wait);
    }

    [Fact]
    public async Task Each_product_shows_its_virtual_account_and_follows_a_move()
    {
        var lab = await AccountAsync("Lab");
        var alpha = ProductData.Instance(lab, "alpha", "C9300", "A1");
        await fixture.StoreAsync(alpha, ProductData.Instance(lab, "bravo", "C9300", "B1"));
        var campus = await fixture.Send(new Ssm.Application.Accounts.CreateVirtualAccount(lab, "Campus", ""));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<ProductInstances>();
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=product-virtual-account]").Select(c => c.TextContent).ShouldBe(["DEFAULT", "DEFAULT"]), Wait);

        await fixture.Send(new Ssm.Application.Products.MoveProductInstances([alpha.Id], campus.Id));

        cut.WaitForAssertion(() => cut.FindAll("[data-testid=product-virtual-account]").Select(c => c.TextContent).ShouldBe(["Campus", "DEFAULT"]), Wait);
    }

    [Fact]
    public async Task Licenses_show_in_use_and_compliance_and_chart_a_license()
    {
        var lab = await AccountAsync("Lab");
        var until = DateTimeOffset.UtcNow.AddHours(1);
        var instance = ProductData.Instance(lab, "a", "C9300", "A1");
        var usage = ProductData.Using(instance, new LicenseUse(Dna, 4, until), new LicenseUse(Nx, 3, until));
        await fixture.StoreAsync(
            ProductData.Bought(lab, Dna, "DNA Advantage", 10),
            ProductData.Bought(lab, Nx, "NX Essentials", 2),
            instance, usage,
            ProductData.Usage(lab, instance.Id, Dna, 4, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.ViewerRole);

        var cut = context.Render<Licenses>();

        cut.WaitForAssertion(() => cut.FindAll("[data-testid=license-row]").Count.ShouldBe(2), Wait);
        var dna = cut.Find("[data-testid=license-row][data-name='DNA Advantage']");
        (dna.QuerySelector("[data-testid=license-quantity]")!.TextContent, dna.QuerySelector("[data-testid=license-in-use]")!.TextContent,
            dna.QuerySelector("[data-testid=license-available]")!.TextContent, dna.QuerySelector("[data-testid=license-status]")!.TextContent.Trim())
            .ShouldBe(("10", "4", "6", "In Compliance"));
        var nx = cut.Find("[data-testid=license-row][data-name='NX Essentials']");
        nx.QuerySelector("[data-testid=license-status]")!.TextContent.Trim().ShouldBe("Out of Compliance");
        nx.QuerySelector("[data-testid=license-available]")!.TextContent.ShouldBe("-1");

        await cut.ClickSelectorAsync("[data-testid=license-row][data-name='DNA Advantage'] [data-testid=license-chart]");
        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=usage-chart]").GetAttribute("data-tag").ShouldBe(Dna);
            cut.Find("[data-testid=usage-peak]").TextContent.ShouldContain("Peak 4 of 10 purchased; today 4");
        }, Wait);

        // A report raises the usage: the page follows without a reload.
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            // As a report does: read (the usage is guarded by optimistic concurrency), merge, store.
            var current = (await session.LoadAsync<ProductUsage>(usage.Id))!;
            current.Usage = [new LicenseUse(Dna, 12, until), new LicenseUse(Nx, 1, until)];
            session.Store(current);
            await session.SaveChangesAsync();
        }
        fixture.Notifier.Publish(ChangeTopic.Licenses);
        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=license-row][data-name='DNA Advantage'] [data-testid=license-status]").TextContent.Trim().ShouldBe("Out of Compliance");
            cut.Find("[data-testid=license-row][data-name='NX Essentials'] [data-testid=license-status]").TextContent.Trim().ShouldBe("In Compliance");
        }, Wait);
    }

    [Fact]
    public async Task A_new_token_is_shown_once_and_only_its_hash_is_stored()
    {
        await AccountAsync("Lab");
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var dialogs = context.Render<MudDialogProvider>();
        var cut = context.Render<RegistrationTokens>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=no-tokens]"), Wait);

        await cut.ClickAsync("new-token");
        IRenderedComponent<IComponent> dialog = dialogs;
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=create-token]"), Wait);
        dialog.Input("token-expiry").Change("400");
        await dialogs.ClickAsync("create-token");
        dialogs.WaitForAssertion(() => dialogs.Markup.ShouldContain($"Expire after 1 to {RegistrationToken.MaxExpiryDays} days."), Wait);

        dialog.Input("token-description").Change("Branch offices");
        dialog.Input("token-expiry").Change("30");
        dialog.Input("token-max-uses").Change("5");
        await dialogs.ClickAsync("create-token");

        string secret = "";
        dialogs.WaitForAssertion(() =>
        {
            secret = dialog.Input("token-secret").GetAttribute("value") ?? "";
            secret.Length.ShouldBe(64);
        }, Wait);
        await using (var session = fixture.Query())
        {
            var stored = (await session.Query<RegistrationToken>().ToListAsync()).ShouldHaveSingleItem();
            (stored.Description, stored.MaxUses, stored.SecretHash).ShouldBe(("Branch offices", 5, RegistrationToken.HashOf(secret)));
            (stored.ExpiresAt - stored.CreatedAt).ShouldBe(TimeSpan.FromDays(30));
        }
        cut.WaitForAssertion(() =>
        {
            var row = cut.Find("[data-testid=token-row]");
            row.GetAttribute("data-prefix").ShouldBe(secret[..8]);
            row.QuerySelector("[data-testid=token-uses]")!.TextContent.ShouldBe("0 (5 left of 5)");
        }, Wait);
        cut.Markup.ShouldNotContain(secret);

        await dialogs.ClickAsync("close-token");
        await cut.ClickAsync("new-token");
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=create-token]"), Wait);
        dialogs.Markup.ShouldNotContain(secret);
        dialogs.FindAll("[data-testid=token-secret]").ShouldBeEmpty();
    }

    [Fact]
    public async Task Revoking_a_token_asks_first_and_then_shows_it_revoked()
    {
        var lab = await AccountAsync("Lab");
        await fixture.Send(new Application.Registration.CreateRegistrationToken(lab, "old", 30, null, false));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<RegistrationTokens>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=token-row]").GetAttribute("data-status").ShouldBe("Active"), Wait);

        await cut.ClickAsync("revoke-token");
        cut.WaitForElement("[data-testid=revoke-confirmation]", Wait);
        await cut.ClickAsync("confirm-revoke");

        cut.WaitForAssertion(() => cut.Find("[data-testid=token-row]").GetAttribute("data-status").ShouldBe("Revoked"), Wait);
        cut.FindAll("[data-testid=revoke-token]").ShouldBeEmpty();
        await using var session = fixture.Query();
        (await session.Query<RegistrationToken>().SingleAsync()).RevokedBy.ShouldBe("alice");
    }

    [Fact]
    public async Task The_dashboard_counts_products_and_licenses_and_follows_reports()
    {
        var lab = await AccountAsync("Lab");
        var until = DateTimeOffset.UtcNow.AddHours(1);
        var a = ProductData.Instance(lab, "a", "C9300", "A1");
        await fixture.StoreAsync(ProductData.Bought(lab, Dna, "DNA Advantage", 5), a, ProductData.Using(a, new LicenseUse(Dna, 4, until)));
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.ViewerRole);
        var cut = context.Render<Dashboard>();
        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=product-count]").TextContent.Trim().ShouldBe("1");
            cut.Find("[data-testid=licenses-in-use]").TextContent.ShouldBe("4");
            cut.Find("[data-testid=licenses-out-of-compliance]").TextContent.ShouldBe("0");
        }, Wait);

        var b = ProductData.Instance(lab, "b", "C9300", "B1");
        await fixture.StoreAsync(b, ProductData.Using(b, new LicenseUse(Dna, 2, until)));
        fixture.Notifier.Publish(ChangeTopic.Products);
        fixture.Notifier.Publish(ChangeTopic.Licenses);

        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=product-count]").TextContent.Trim().ShouldBe("2");
            cut.Find("[data-testid=licenses-in-use]").TextContent.ShouldBe("6");
            cut.Find("[data-testid=licenses-out-of-compliance]").TextContent.ShouldBe("1");
        }, Wait);
        cut.Find("[data-testid=account-count]").TextContent.ShouldBe("1");
    }
}
