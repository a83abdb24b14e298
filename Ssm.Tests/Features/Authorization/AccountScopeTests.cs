using System.Runtime.CompilerServices;
using System.Security.Claims;
using Marten;
using Mediator;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Api;
using Ssm.Application.Common;
using Ssm.Application.Dashboard;
using Ssm.Application.Events;
using Ssm.Application.Licenses;
using Ssm.Application.Products;
using Ssm.Application.Registration;
using Ssm.Application.Sync;
using Ssm.Application.Users;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;
using Ssm.Domain.Users;
using Ssm.Tests.Features.Api;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Authorization;

/// <summary>
/// Attacker tests of the account scope (decision 0032) through the mediator, as every page and endpoint sends: a viewer of
/// account A reads nothing of account B (licenses, products, tokens, events, virtual accounts) and an administrator of A
/// changes nothing of B.
/// </summary>
[Collection(CoreCollection.Name)]
public sealed class AccountScopeTests(CoreFixture fixture) : IAsyncLifetime
{
    private AccountDto _a = default!;
    private AccountDto _b = default!;
    private Guid _productOfB;

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        _a = await fixture.Send(new CreateAccount("Alpha", "", "ops@example.com"));
        _b = await fixture.Send(new CreateAccount("Beta", "", "ops@example.com"));
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await ApiSeed.LicensesAsync(store, _a.Id);
        await ApiSeed.LicensesAsync(store, _b.Id);
        await fixture.Send(new CreateRegistrationToken(_a.Id, "token of alpha", 30, null, false));
        await fixture.Send(new CreateRegistrationToken(_b.Id, "token of beta", 30, null, false));
        await using var session = fixture.Query();
        _productOfB = (await session.Query<ProductInstance>().FirstAsync(p => p.AccountId == _b.Id)).Id;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private ClaimsPrincipal ViewerOfA => Scoped("carol", AccountAccess.Viewer);
    private ClaimsPrincipal AdminOfA => Scoped("dave", AccountAccess.Administrator);

    /// <summary>What the session cookie makes of a user granted account A only.</summary>
    private ClaimsPrincipal Scoped(string name, AccountAccess access) =>
        SessionCookie.PrincipalOf(new SessionState(name, UserRole.Accounts, "stamp", [new AccountGrant(_a.Id, access)], false), "sid");

    [Fact]
    public async Task A_viewer_of_A_asking_for_Bs_licenses_products_tokens_or_virtual_accounts_by_id_is_refused()
    {
        var asks = new Func<Task>[]
        {
            () => fixture.SendAs(ViewerOfA, new ListLicenses(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListVirtualAccountLicenses(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new LicenseUsageOverTime(_b.Id, ApiSeed.AdvantageTag)),
            () => fixture.SendAs(ViewerOfA, new ListProductInstances(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListProductInstances(_b.Id, VirtualAccountId: _b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListRegistrationTokens(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListVirtualAccounts(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListApiLicenses(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListApiAlerts(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListApiVirtualAccounts(_b.Id)),
            () => fixture.SendAs(ViewerOfA, new ListApiRegistrationTokens(_b.Id, "DEFAULT")),
            () => fixture.SendAs(ViewerOfA, new ListApiClients(_b.Id)),
        };
        foreach (var ask in asks)
            (await Should.ThrowAsync<ForbiddenException>(ask)).Message.ShouldContain($"no access to account {_b.Id}");

        // The same questions about A are answered: the refusal is about B, not about the user.
        (await fixture.SendAs(ViewerOfA, new ListLicenses(_a.Id))).ShouldNotBeEmpty();
        (await fixture.SendAs(ViewerOfA, new ListRegistrationTokens(_a.Id))).ShouldHaveSingleItem().Description.ShouldBe("token of alpha");
    }

    [Fact]
    public async Task Lists_over_every_account_show_a_viewer_of_A_only_As_rows()
    {
        (await fixture.SendAs(ViewerOfA, new ListLicenses())).Select(l => l.AccountId).Distinct().ShouldBe([_a.Id]);
        var products = await fixture.SendAs(ViewerOfA, new ListProductInstances());
        products.Items.Select(p => p.AccountId).Distinct().ShouldBe([_a.Id]);
        products.Total.ShouldBe(2);
        (await fixture.SendAs(ViewerOfA, new ListProductInstances(Search: "FOC"))).Items.Select(p => p.AccountId).Distinct().ShouldBe([_a.Id]);
        (await fixture.SendAs(ViewerOfA, new ListAccounts())).Items.Select(a => a.Name).ShouldBe(["Alpha"]);

        var summary = await fixture.SendAs(ViewerOfA, new GetDashboardSummary());
        (summary.Accounts, summary.ProductInstances, summary.LicensesInUse).ShouldBe((1, 2L, 9L));
        summary.LatestEvents.ShouldAllBe(e => e.Subject != "token of beta");

        // Unlimited users still see both, so the narrowing above is the scope's doing.
        var everyone = CurrentUser.For("victor", CurrentUser.ViewerRole);
        (await fixture.SendAs(everyone, new ListLicenses())).Select(l => l.AccountId).Distinct().Count().ShouldBe(2);
        (await fixture.SendAs(everyone, new ListProductInstances())).Total.ShouldBe(4);
    }

    [Fact]
    public async Task A_viewer_of_A_reads_As_events_only_on_the_page_and_in_the_export()
    {
        var page = await fixture.SendAs(ViewerOfA, new ListEvents(PageSize: 100));
        page.Items.Select(e => e.Subject).ShouldBe(["token of alpha"]);
        var exported = new List<EventDto>();
        await foreach (var e in await fixture.SendAs(ViewerOfA, new ExportEvents()))
            exported.Add(e);
        exported.Select(e => e.Subject).ShouldBe(["token of alpha"]);

        // A system administrator sees B's token and the accounts' creation.
        (await fixture.Send(new ListEvents(PageSize: 100))).Items.Select(e => e.Subject).ShouldContain("token of beta");
    }

    [Fact]
    public async Task A_viewer_of_A_sees_the_synchronization_runs_of_A_only()
    {
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            var now = DateTimeOffset.UtcNow;
            session.Store(SyncRun.Start(SyncTrigger.Manual, _a.Id, "Alpha", "node", "alice", now), SyncRun.Start(SyncTrigger.Manual, _b.Id, "Beta", "node", "alice", now),
                SyncRun.Start(SyncTrigger.Manual, null, "all accounts", "node", "alice", now));
            await session.SaveChangesAsync();
        }
        (await fixture.SendAs(ViewerOfA, new ListSyncRuns())).Items.Select(r => r.Scope).ShouldBe(["Alpha"]);
        (await fixture.Send(new ListSyncRuns())).Total.ShouldBe(3);
    }

    [Fact]
    public async Task Bs_product_by_id_answers_a_viewer_of_A_as_unknown()
    {
        var refused = await Should.ThrowAsync<NotFoundException>(() => fixture.SendAs(ViewerOfA, new GetProductInstance(_productOfB)));
        refused.Message.ShouldBe($"No product instance with id {_productOfB}.");
        (await fixture.Send(new GetProductInstance(_productOfB))).AccountId.ShouldBe(_b.Id);
    }

    [Fact]
    public async Task An_administrator_of_A_changes_A_and_nothing_of_B_and_a_viewer_of_A_changes_nothing()
    {
        await fixture.SendAs(AdminOfA, new CreateRegistrationToken(_a.Id, "made by dave", 30, null, false));
        await fixture.SendAs(AdminOfA, new CreateVirtualAccount(_a.Id, "Lab", ""));

        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(AdminOfA, new CreateRegistrationToken(_b.Id, "into beta", 30, null, false)));
        // Naming A but B's virtual account: the handler checks the virtual account belongs to A.
        await Should.ThrowAsync<NotFoundException>(() => fixture.SendAs(AdminOfA, new CreateRegistrationToken(_a.Id, "into beta", 30, null, false, _b.Id)));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(AdminOfA, new CreateVirtualAccount(_b.Id, "Lab", "")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(AdminOfA, new UpdateAccountDescription(_b.Id, "mine now")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(AdminOfA, new CreateApiRegistrationToken(_b.Id, "DEFAULT", "x", 30, false)));
        // Whole-node and by-id writes stay with system administrators.
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(AdminOfA, new DeleteAccount(_a.Id, "Alpha")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(AdminOfA, new RemoveProductInstance(_productOfB)));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(ViewerOfA, new CreateRegistrationToken(_a.Id, "by a viewer", 30, null, false)));

        (await fixture.Send(new ListRegistrationTokens(_b.Id))).Select(t => t.Description).ShouldBe(["token of beta"]);
        (await fixture.Send(new ListRegistrationTokens(_a.Id))).Select(t => t.Description).Order().ShouldBe(["made by dave", "token of alpha"]);
        (await fixture.Send(new ListVirtualAccounts(_b.Id))).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Messages_for_users_of_every_account_are_refused_to_a_user_limited_to_some()
    {
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(ViewerOfA, new Ssm.Application.Notifications.GetNotificationSettings()));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(AdminOfA, new SynchronizeNow(_a.Id)));
        // What carries no account's data is answered.
        (await fixture.SendAs(ViewerOfA, new Ssm.Application.Ha.GetNodeStatus())).ShouldNotBeNull();
    }

    /// <summary>Found by reflection: a new viewer message that neither names its account nor is scoped by its handler is refused, not open.</summary>
    [Fact]
    public async Task Every_message_naming_another_account_or_spanning_every_account_is_refused_to_a_limited_user()
    {
        var messages = typeof(Application.DependencyInjection).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IMessage).IsAssignableFrom(t))
            .Where(t => Senders.DeclaredBy(t) is SenderRole.Viewer or SenderRole.Admin)
            .ToList();
        var let = new List<string>();
        foreach (var type in messages)
        {
            var blank = RuntimeHelpers.GetUninitializedObject(type);
            // Scoped by the handler with no account named, or carrying nothing of an account: checked by the tests above.
            if (blank is INoAccountData || (blank is IScopedByHandler && (blank as IAccountScoped)?.ScopeAccountId is null && Senders.DeclaredBy(type) == SenderRole.Viewer))
                continue;
            await using var scope = fixture.Services.CreateAsyncScope();
            scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = AdminOfA;
            try
            {
                // A blank message names the empty account id: never A.
                await scope.ServiceProvider.GetRequiredService<ISender>().Send(blank);
                let.Add(type.Name);
            }
            catch (ForbiddenException)
            {
            }
            catch (Exception)
            {
                let.Add(type.Name);
            }
        }
        messages.Count.ShouldBeGreaterThan(40);
        let.ShouldBeEmpty();
    }
}
