using Marten;
using FluentValidation;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Api;
using Ssm.Application.Common;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Api;

[Collection(CoreCollection.Name)]
public sealed class ApiClientTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<IReadOnlyList<EventLogEntry>> Events()
    {
        await using var session = fixture.Query();
        return await session.Query<EventLogEntry>().OrderBy(e => e.At).ToListAsync();
    }

    private async Task<(AccountDto Account, CreatedApiClient Client)> ClientAsync(string account = "Lab 1")
    {
        var created = await fixture.Send(new CreateAccount(account, "", "ops@example.com"));
        return (created, await fixture.Send(new CreateApiClient(created.Id, "nagios")));
    }

    private Task<IssuedApiToken> TokenAsync(CreatedApiClient client, string? secret = null) =>
        fixture.SendAs("anonymous", "", new IssueApiToken(IssueApiToken.ClientCredentials, client.Client.ClientId, secret ?? client.Secret));

    [Fact]
    public async Task Creating_a_client_stores_only_the_hash_of_its_secret_and_logs_who_did_it()
    {
        var (account, created) = await ClientAsync();

        created.Secret.Length.ShouldBeGreaterThanOrEqualTo(43);
        await using var session = fixture.Query();
        var stored = (await session.LoadAsync<ApiClient>(created.Client.Id)).ShouldNotBeNull();
        (stored.AccountId, stored.Name, stored.ClientId, stored.CreatedBy).ShouldBe((account.Id, "nagios", created.Client.ClientId, "alice"));
        stored.SecretHash.ShouldBe(ApiClient.HashOf(created.Secret));
        stored.SecretHash.ShouldNotContain(created.Secret);
        var entry = (await Events()).Last();
        (entry.Actor, entry.Action, entry.Category, entry.Outcome).ShouldBe(("alice", nameof(CreateApiClient), EventCategory.Security, EventOutcome.Success));
        (await fixture.Send(new ListApiClients(account.Id))).ShouldHaveSingleItem().ClientId.ShouldBe(created.Client.ClientId);
    }

    [Fact]
    public async Task A_viewer_cannot_create_or_revoke_a_client()
    {
        var (account, created) = await ClientAsync();

        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new CreateApiClient(account.Id, "x")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new RevokeApiClient(created.Client.Id)));
        (await fixture.Send(new ListApiClients(account.Id))).ShouldHaveSingleItem().Revoked.ShouldBeFalse();
    }

    [Fact]
    public async Task A_client_without_a_name_is_refused()
    {
        var account = await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));

        var error = await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateApiClient(account.Id, "  ")));

        error.Errors.ShouldContain(e => e.PropertyName == nameof(CreateApiClient.Name));
        (await fixture.Send(new ListApiClients(account.Id))).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_token_issued_for_the_right_secret_authenticates_its_client_and_account()
    {
        var (account, created) = await ClientAsync();

        var token = await TokenAsync(created);

        (token.TokenType, token.ExpiresIn).ShouldBe(("Bearer", 3600));
        var caller = await fixture.Send(new AuthenticateApiToken(token.AccessToken));
        caller.ShouldBe(new ApiCaller(created.Client.ClientId, "nagios", account.Id, "Lab 1"));
    }

    [Fact]
    public async Task A_wrong_secret_an_unknown_client_and_a_wrong_grant_are_refused_and_nothing_is_written()
    {
        var (_, created) = await ClientAsync();
        var before = (await Events()).Count;

        (await Should.ThrowAsync<ApiAuthException>(() => TokenAsync(created, created.Secret + "x"))).Error.ShouldBe(ApiAuthException.InvalidClient);
        (await Should.ThrowAsync<ApiAuthException>(() => fixture.Send(new IssueApiToken("client_credentials", "no-such-client", created.Secret))))
            .Error.ShouldBe(ApiAuthException.InvalidClient);
        (await Should.ThrowAsync<ApiAuthException>(() => fixture.Send(new IssueApiToken("password", created.Client.ClientId, created.Secret))))
            .Error.ShouldBe(ApiAuthException.UnsupportedGrantType);
        (await Should.ThrowAsync<ApiAuthException>(() => fixture.Send(new IssueApiToken("client_credentials", created.Client.ClientId, null))))
            .Error.ShouldBe(ApiAuthException.InvalidRequest);

        (await Events()).Count.ShouldBe(before);
    }

    [Fact]
    public async Task Revoking_a_client_refuses_new_tokens_and_the_ones_it_already_has()
    {
        var (account, created) = await ClientAsync();
        var token = await TokenAsync(created);

        await fixture.Send(new RevokeApiClient(created.Client.Id));

        (await Should.ThrowAsync<ApiAuthException>(() => TokenAsync(created))).Message.ShouldContain("revoked");
        var refused = await Should.ThrowAsync<ApiAuthException>(() => fixture.Send(new AuthenticateApiToken(token.AccessToken)));
        (refused.Error, refused.Message.Contains("revoked")).ShouldBe((ApiAuthException.InvalidToken, true));
        (await fixture.Send(new ListApiClients(account.Id))).ShouldHaveSingleItem().Revoked.ShouldBeTrue();
        (await Events()).Last().Action.ShouldBe(nameof(RevokeApiClient));
    }

    [Fact]
    public async Task A_tampered_or_expired_token_is_refused()
    {
        var (account, created) = await ClientAsync();
        var token = (await TokenAsync(created)).AccessToken;
        var protector = fixture.Services.GetRequiredService<IApiTokenProtector>();
        var expired = protector.Protect(new ApiTokenClaims(created.Client.ClientId, account.Id), DateTimeOffset.UtcNow.AddSeconds(-1));

        var middle = token.Length / 2;
        var tampered = token[..middle] + (token[middle] == 'A' ? 'B' : 'A') + token[(middle + 1)..];

        foreach (var bad in new[] { tampered, "not a token", expired })
            (await Should.ThrowAsync<ApiAuthException>(() => fixture.Send(new AuthenticateApiToken(bad)))).Error.ShouldBe(ApiAuthException.InvalidToken);
    }

    [Fact]
    public async Task A_token_for_a_deleted_account_is_refused()
    {
        var (account, created) = await ClientAsync();
        var token = await TokenAsync(created);

        await fixture.Send(new DeleteAccount(account.Id, account.Name));

        await Should.ThrowAsync<ApiAuthException>(() => fixture.Send(new AuthenticateApiToken(token.AccessToken)));
        await Should.ThrowAsync<ApiAuthException>(() => TokenAsync(created));
    }

    [Theory]
    [InlineData("Lab 1", true)]
    [InlineData("LAB 1", true)]
    [InlineData("lab 1", true)]
    [InlineData("Lab 2", false)]
    [InlineData("", false)]
    public void A_caller_owns_its_account_by_name_in_any_case(string account, bool owns)
    {
        var caller = new ApiCaller("c", "nagios", Guid.CreateVersion7(), "Lab 1");
        caller.Owns(account).ShouldBe(owns);
        caller.Owns(caller.AccountId.ToString()).ShouldBeTrue();
        caller.Owns(Guid.CreateVersion7().ToString()).ShouldBeFalse();
    }

    [Fact]
    public async Task Licenses_show_quantity_in_use_available_and_compliance_and_honour_the_limit()
    {
        var (account, _) = await ClientAsync();
        await ApiSeed.LicensesAsync(fixture.Services.GetRequiredService<IDocumentStore>(), account.Id);

        var licenses = (await fixture.Send(new ListApiLicenses(account.Id))).Licenses;

        licenses.ShouldBe([
            new ApiLicense("DNA Advantage", ApiSeed.AdvantageTag, "In Compliance", 10, 4, 6),
            new ApiLicense("DNA Essentials", ApiSeed.EssentialsTag, "Out of Compliance", 2, 5, -3),
        ]);
        (await fixture.Send(new ListApiLicenses(account.Id, 1))).Licenses.ShouldHaveSingleItem().License.ShouldBe("DNA Advantage");
        (await fixture.Send(new ListApiLicenses(account.Id, 0))).Licenses.ShouldBeEmpty();
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListApiLicenses(account.Id, -2)));
    }

    [Fact]
    public async Task Alerts_have_one_major_alert_per_license_out_of_compliance_and_none_of_other_accounts()
    {
        var (account, _) = await ClientAsync();
        var other = await fixture.Send(new CreateAccount("Lab 2", "", "ops@example.com"));
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await ApiSeed.LicensesAsync(store, account.Id);
        await ApiSeed.LicensesAsync(store, other.Id);

        var alert = (await fixture.Send(new ListApiAlerts(account.Id))).Alerts.ShouldHaveSingleItem();

        (alert.MessageType, alert.Severity, alert.Source).ShouldBe((ListApiAlertsHandler.InsufficientLicensesType, "Major", "DNA Essentials"));
        alert.Message.ShouldContain("Out of Compliance");
        alert.Message.ShouldContain("5 in use, 2 purchased, 3 short");
    }

    [Fact]
    public async Task The_account_has_one_default_virtual_account()
    {
        var (account, _) = await ClientAsync();

        var virtualAccount = (await fixture.Send(new ListApiVirtualAccounts(account.Id))).VirtualAccounts.ShouldHaveSingleItem();

        (virtualAccount.Name, virtualAccount.IsDefault).ShouldBe(("DEFAULT", true));
    }
}
