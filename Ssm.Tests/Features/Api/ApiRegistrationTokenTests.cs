using System.Security.Claims;
using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Api;
using Ssm.Application.Common;
using Ssm.Application.Products;
using Ssm.Application.Registration;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;
using Ssm.Tests.Features.Products;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Api;

/// <summary>Virtual accounts and the registration tokens of the API toolkit, through the mediator on real PostgreSQL.</summary>
[Collection(CoreCollection.Name)]
public sealed class ApiRegistrationTokenTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<(AccountDto Account, ClaimsPrincipal Client)> ClientAsync(string name = "Lab 1")
    {
        var account = await fixture.Send(new CreateAccount(name, "", "ops@example.com"));
        var client = await fixture.Send(new CreateApiClient(account.Id, "ansible"));
        return (account, ApiTokenAuthentication.PrincipalOf(new ApiCaller(client.Client.ClientId, "ansible", account.Id, account.Name)));
    }

    private async Task<VirtualAccount> AddVirtualAccountAsync(Guid accountId, string name)
    {
        var virtualAccount = VirtualAccount.Create(accountId, name, "", "test", DateTimeOffset.UtcNow);
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        session.Store(virtualAccount);
        await session.SaveChangesAsync();
        return virtualAccount;
    }

    private async Task<(int Tokens, int Events)> CountsAsync()
    {
        await using var session = fixture.Query();
        return (await session.Query<RegistrationToken>().CountAsync(), await session.Query<EventLogEntry>().CountAsync(e => e.Outcome == EventOutcome.Success));
    }

    [Fact]
    public async Task A_new_account_has_a_DEFAULT_virtual_account_with_the_accounts_own_id()
    {
        var (account, client) = await ClientAsync();

        var listed = (await fixture.SendAs(client, new ListApiVirtualAccounts(account.Id))).VirtualAccounts.ShouldHaveSingleItem();

        (listed.Id, listed.Name, listed.IsDefault).ShouldBe((account.Id, VirtualAccount.DefaultName, true));
    }

    [Fact]
    public async Task A_client_makes_a_token_and_reads_its_text_again_though_only_its_hash_and_sealed_text_are_stored()
    {
        var (account, client) = await ClientAsync();

        var created = (await fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "default", "rollout", 30, ExportControlled: false))).TokenInfo;
        var listed = (await fixture.SendAs(client, new ListApiRegistrationTokens(account.Id, "DEFAULT"))).Tokens.ShouldHaveSingleItem();

        (created.Description, created.ExportControlled).ShouldBe(("rollout", "Not Allowed"));
        DateTimeOffset.Parse(created.ExpirationDate).ShouldBe(DateTimeOffset.UtcNow.AddDays(30), TimeSpan.FromMinutes(1));
        listed.ShouldBe(new ApiRegistrationToken(created.Token, "rollout", created.ExpirationDate, "Not Allowed", "api-client:ansible", ApiRegistrationToken.Valid));
        await using var session = fixture.Query();
        var stored = (await session.AdvancedSql.QueryAsync<string>("select data::text from ssm.mt_doc_registrationtoken", CancellationToken.None)).ShouldHaveSingleItem();
        stored.ShouldNotContain(created.Token);
        stored.ShouldContain(RegistrationToken.HashOf(created.Token));
        var token = (await session.Query<RegistrationToken>().SingleAsync());
        (token.AccountId, token.VirtualAccountId, token.SealedValue).ShouldBe((account.Id, account.Id, token.SealedValue));
        token.SealedValue.ShouldNotBeNullOrEmpty();
        var entry = await session.Query<EventLogEntry>().Where(e => e.Action == nameof(CreateApiRegistrationToken)).SingleAsync();
        (entry.Actor, entry.Outcome).ShouldBe(("api-client:ansible", EventOutcome.Success));
        entry.Detail.ShouldNotContain(created.Token);
    }

    [Fact]
    public async Task Tokens_belong_to_their_virtual_account_and_a_product_joins_its_tokens_one()
    {
        var (account, client) = await ClientAsync();
        var lab = await AddVirtualAccountAsync(account.Id, "Lab Switches");

        var created = (await fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "lab switches", "lab", 10, ExportControlled: true))).TokenInfo;

        created.ExportControlled.ShouldBe("Allowed");
        (await fixture.SendAs(client, new ListApiRegistrationTokens(account.Id, lab.Id.ToString()))).Tokens.ShouldHaveSingleItem().Token.ShouldBe(created.Token);
        (await fixture.SendAs(client, new ListApiRegistrationTokens(account.Id, "DEFAULT"))).Tokens.ShouldBeEmpty();
        (await fixture.SendAs(client, new ListApiVirtualAccounts(account.Id))).VirtualAccounts.Select(v => v.Name).ShouldBe(["DEFAULT", "Lab Switches"]);
        (await fixture.Send(new ListRegistrationTokens(account.Id))).ShouldHaveSingleItem().VirtualAccountId.ShouldBe(lab.Id);
    }

    [Fact]
    public async Task Bad_requests_are_refused_and_write_nothing()
    {
        var (account, client) = await ClientAsync();
        var (other, _) = await ClientAsync("Other");
        await AddVirtualAccountAsync(other.Id, "Theirs");
        var before = await CountsAsync();

        await Should.ThrowAsync<NotFoundException>(() => fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "Nope", "x", 30, false)));
        // Another account's virtual account is not one of this account's, whatever its name.
        await Should.ThrowAsync<NotFoundException>(() => fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "Theirs", "x", 30, false)));
        await Should.ThrowAsync<ValidationException>(() => fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "DEFAULT", "x", -1, false)));
        await Should.ThrowAsync<ValidationException>(() => fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "DEFAULT", "x", 366, false)));
        await Should.ThrowAsync<ValidationException>(() => fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "DEFAULT", new string('d', 201), 30, false)));
        await Should.ThrowAsync<ValidationException>(() => fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "", "x", 30, false)));
        await Should.ThrowAsync<NotFoundException>(() => fixture.SendAs(client, new ListApiRegistrationTokens(account.Id, "Nope")));

        (await CountsAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task A_dashboard_viewer_may_neither_read_nor_make_token_texts()
    {
        var (account, client) = await ClientAsync();
        await fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "DEFAULT", "x", 30, false));
        var before = await CountsAsync();

        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new ListApiRegistrationTokens(account.Id, "DEFAULT")));
        await Should.ThrowAsync<ForbiddenException>(() =>
            fixture.SendAs("victor", CurrentUser.ViewerRole, new CreateApiRegistrationToken(account.Id, "DEFAULT", "x", 30, false)));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("anonymous", "", new ListApiRegistrationTokens(account.Id, "DEFAULT")));

        (await CountsAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task Revoking_marks_the_token_revoked_and_a_token_of_another_account_is_unknown()
    {
        var (account, client) = await ClientAsync();
        var (other, otherClient) = await ClientAsync("Other");
        var mine = (await fixture.SendAs(client, new CreateApiRegistrationToken(account.Id, "DEFAULT", "mine", 30, false))).TokenInfo;
        var theirs = (await fixture.SendAs(otherClient, new CreateApiRegistrationToken(other.Id, "DEFAULT", "theirs", 30, false))).TokenInfo;

        await Should.ThrowAsync<NotFoundException>(() => fixture.SendAs(client, new RevokeApiRegistrationToken(account.Id, "DEFAULT", theirs.Token)));
        await Should.ThrowAsync<NotFoundException>(() => fixture.SendAs(client, new RevokeApiRegistrationToken(account.Id, "DEFAULT", "no-such-token")));
        (await fixture.SendAs(otherClient, new ListApiRegistrationTokens(other.Id, "DEFAULT"))).Tokens.ShouldHaveSingleItem().Status.ShouldBe(ApiRegistrationToken.Valid);

        var revoked = await fixture.SendAs(client, new RevokeApiRegistrationToken(account.Id, "DEFAULT", mine.Token));

        revoked.Status.ShouldBe(ApiRegistrationToken.Revoked);
        (await fixture.SendAs(client, new ListApiRegistrationTokens(account.Id, "DEFAULT"))).Tokens.ShouldHaveSingleItem().Status.ShouldBe(ApiRegistrationToken.Revoked);
        await Should.ThrowAsync<ConflictException>(() => fixture.SendAs(client, new RevokeApiRegistrationToken(account.Id, "DEFAULT", mine.Token)));
        new RevokeApiRegistrationToken(account.Id, "DEFAULT", mine.Token).ToString().ShouldNotContain(mine.Token);
    }

    [Fact]
    public async Task Data_from_before_virtual_accounts_moves_into_DEFAULT_once()
    {
        var account = await fixture.Send(new CreateAccount("Legacy", "", "ops@example.com"));
        var token = await fixture.Send(new CreateRegistrationToken(account.Id, "old", 30, null, false));
        var instance = ProductData.Instance(account.Id, "sw1", "C9300-24T", "FOC1");
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await using (var session = store.LightweightSession())
        {
            session.Store(instance);
            session.Store(ProductData.Using(instance, new LicenseUse("tag", 1, DateTimeOffset.UtcNow)));
            await session.SaveChangesAsync();
        }
        // As an older version left it: no DEFAULT, no virtual account on the documents, no migration mark.
        await using (var session = store.LightweightSession())
        {
            session.DeleteWhere<VirtualAccount>(v => v.AccountId == account.Id);
            session.DeleteWhere<AppliedMigration>(m => m.Id == VirtualAccountMigration.Id);
            session.DeleteWhere<AppliedMigration>(m => m.Id == ProductInstanceCompaction.KeysId);
            foreach (var table in new[] { "registrationtoken", "productusage" })
                session.QueueSqlCommand($"update ssm.mt_doc_{table} set data = data - 'VirtualAccountId'");
            session.QueueSqlCommand("update ssm.mt_doc_productinstance set data = ?::jsonb where id = ?",
                ProductData.LegacyJson(store, instance, withVirtualAccount: false), instance.Id);
            await session.SaveChangesAsync();
        }

        // In the order of the schema step (SchemaUpgrade): the instance's keys are shortened after it has its virtual account.
        await VirtualAccountMigration.RunAsync(store, DateTimeOffset.UtcNow, CancellationToken.None);
        await ProductInstanceCompaction.RunAsync(store, DateTimeOffset.UtcNow, CancellationToken.None);

        await using (var session = store.QuerySession())
        {
            (await session.LoadAsync<VirtualAccount>(account.Id)).ShouldNotBeNull().Name.ShouldBe(VirtualAccount.DefaultName);
            (await session.LoadAsync<RegistrationToken>(token.Token.Id))!.VirtualAccountId.ShouldBe(account.Id);
            (await session.LoadAsync<ProductInstance>(instance.Id))!.VirtualAccountId.ShouldBe(account.Id);
            (await session.LoadAsync<ProductUsage>(instance.Id))!.VirtualAccountId.ShouldBe(account.Id);
        }
        // The mark makes a second run a no-op: a DEFAULT deleted since is not made again.
        await using (var session = store.LightweightSession())
        {
            session.DeleteWhere<VirtualAccount>(v => v.AccountId == account.Id);
            await session.SaveChangesAsync();
        }
        await VirtualAccountMigration.RunAsync(store, DateTimeOffset.UtcNow, CancellationToken.None);
        await using (var session = store.QuerySession())
            (await session.LoadAsync<VirtualAccount>(account.Id)).ShouldBeNull();
    }
}
