using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Licenses;
using Ssm.Application.Products;
using Ssm.Application.Registration;
using Ssm.Domain.Accounts;
using Ssm.Domain.Licenses;
using Ssm.Domain.Products;
using Ssm.Tests.Features.Products;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Accounts;

/// <summary>Virtual accounts of a local account: made, renamed, deleted when empty, and products moved between them.</summary>
[Collection(CoreCollection.Name)]
public sealed class VirtualAccountTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string Tag = "regid.2017-07.com.cisco.DNA_Advantage";

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Task<AccountDto> AccountAsync(string name = "Lab") => fixture.Send(new CreateAccount(name, "", "ops@example.com"));

    private async Task<ProductInstance> ProductAsync(Guid accountId, string serial, int count)
    {
        var instance = ProductData.Instance(accountId, serial, "C9300-24T", serial);
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        session.Store(instance);
        session.Store(ProductData.Using(instance, new LicenseUse(Tag, count, DateTimeOffset.UtcNow)));
        session.Store(new Entitlement
        {
            Id = Entitlement.IdOf(accountId, Tag), AccountId = accountId, Tag = Tag, Name = "DNA Advantage", Quantity = 10,
            StartDate = DateOnly.FromDateTime(DateTime.UtcNow).AddDays(-1), EndDate = DateOnly.FromDateTime(DateTime.UtcNow).AddYears(1),
            SyncedAt = DateTimeOffset.UtcNow,
        });
        await session.SaveChangesAsync();
        return instance;
    }

    private async Task<(Guid? Instance, Guid? Usage)> PlaceOfAsync(Guid instanceId)
    {
        await using var session = fixture.Query();
        return ((await session.LoadAsync<ProductInstance>(instanceId))?.VirtualAccountId, (await session.LoadAsync<ProductUsage>(instanceId))?.VirtualAccountId);
    }

    [Fact]
    public async Task Virtual_accounts_are_made_renamed_and_deleted_when_empty_and_their_names_are_unique_per_account()
    {
        var account = await AccountAsync();
        var other = await AccountAsync("Other");

        var lab = await fixture.Send(new CreateVirtualAccount(account.Id, "Lab", "switches"));
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new CreateVirtualAccount(account.Id, "LAB", "")));
        await fixture.Send(new CreateVirtualAccount(other.Id, "Lab", ""));
        var renamed = await fixture.Send(new UpdateVirtualAccount(lab.Id, "Campus", "access"));

        (renamed.Name, renamed.Description).ShouldBe(("Campus", "access"));
        (await fixture.Send(new ListVirtualAccounts(account.Id))).Select(v => (v.Name, v.IsDefault)).ShouldBe([("DEFAULT", true), ("Campus", false)]);
        await fixture.Send(new DeleteVirtualAccount(lab.Id));
        (await fixture.Send(new ListVirtualAccounts(account.Id))).ShouldHaveSingleItem().Name.ShouldBe("DEFAULT");
    }

    [Fact]
    public async Task DEFAULT_keeps_its_name_and_stays_and_bad_names_are_refused()
    {
        var account = await AccountAsync();

        await Should.ThrowAsync<Ssm.Domain.DomainException>(() => fixture.Send(new UpdateVirtualAccount(account.Id, "Main", "")));
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new DeleteVirtualAccount(account.Id)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateVirtualAccount(account.Id, " padded", "")));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateVirtualAccount(account.Id, "", "")));
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new CreateVirtualAccount(Guid.NewGuid(), "Lab", "")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new CreateVirtualAccount(account.Id, "Lab", "")));

        (await fixture.Send(new ListVirtualAccounts(account.Id))).ShouldHaveSingleItem().Name.ShouldBe("DEFAULT");
    }

    [Fact]
    public async Task A_virtual_account_with_products_or_tokens_is_not_deleted()
    {
        var account = await AccountAsync();
        var withProduct = await fixture.Send(new CreateVirtualAccount(account.Id, "Products", ""));
        var withToken = await fixture.Send(new CreateVirtualAccount(account.Id, "Tokens", ""));
        var product = await ProductAsync(account.Id, "FOC1", 1);
        await fixture.Send(new MoveProductInstances([product.Id], withProduct.Id));
        await fixture.Send(new CreateRegistrationToken(account.Id, "x", 30, null, false, withToken.Id));

        (await Should.ThrowAsync<ConflictException>(() => fixture.Send(new DeleteVirtualAccount(withProduct.Id)))).Message.ShouldContain("1 product");
        (await Should.ThrowAsync<ConflictException>(() => fixture.Send(new DeleteVirtualAccount(withToken.Id)))).Message.ShouldContain("1 registration token");

        var listed = await fixture.Send(new ListVirtualAccounts(account.Id));
        listed.Select(v => (v.Name, v.Products, v.Tokens)).ShouldBe([("DEFAULT", 0, 0), ("Products", 1, 0), ("Tokens", 0, 1)]);
    }

    [Fact]
    public async Task Moved_products_take_their_usage_along_and_licenses_show_in_use_per_virtual_account_and_balance_per_account()
    {
        var account = await AccountAsync();
        var lab = await fixture.Send(new CreateVirtualAccount(account.Id, "Lab", ""));
        var a = await ProductAsync(account.Id, "FOC1", 3);
        var b = await ProductAsync(account.Id, "FOC2", 4);

        (await fixture.Send(new MoveProductInstances([a.Id], lab.Id))).ShouldBe(1);

        (await PlaceOfAsync(a.Id)).ShouldBe((lab.Id, lab.Id));
        (await PlaceOfAsync(b.Id)).ShouldBe((account.Id, account.Id));
        var inLab = await fixture.Send(new ListProductInstances(account.Id, VirtualAccountId: lab.Id));
        inLab.Items.ShouldHaveSingleItem().Id.ShouldBe(a.Id);
        (inLab.Items[0].VirtualAccount, inLab.Total).ShouldBe(("Lab", 1L));
        var licenses = await fixture.Send(new ListVirtualAccountLicenses(account.Id));
        licenses.Select(l => (l.VirtualAccount, l.InUse, l.AccountPurchased, l.AccountInUse, l.AccountAvailable))
            .ShouldBe([("DEFAULT", 4, 10, 7, 3), ("Lab", 3, 10, 7, 3)]);
    }

    [Fact]
    public async Task Products_do_not_move_to_another_accounts_virtual_account_and_nothing_moves_then()
    {
        var account = await AccountAsync();
        var other = await AccountAsync("Other");
        var theirs = await fixture.Send(new CreateVirtualAccount(other.Id, "Theirs", ""));
        var mine = await ProductAsync(account.Id, "FOC1", 1);

        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new MoveProductInstances([mine.Id], theirs.Id)));
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new MoveProductInstances([mine.Id, Guid.NewGuid()], account.Id)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new MoveProductInstances([], account.Id)));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new MoveProductInstances([mine.Id], account.Id)));

        (await PlaceOfAsync(mine.Id)).ShouldBe((account.Id, account.Id));
    }
}
