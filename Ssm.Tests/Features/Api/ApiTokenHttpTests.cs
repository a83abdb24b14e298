using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Api;
using Ssm.Domain.Accounts;
using Ssm.Domain.Registration;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Api;

/// <summary>
/// The registration-token calls of the API toolkit over real HTTP, as a script that knows only SSM On-Prem's API
/// makes them: client credentials, then list, create and revoke tokens of a virtual account.
/// </summary>
public sealed class ApiTokenNodeFixture : ApiNodeFixture
{
    protected override string Database => "ssm_api_token_node";
}

public sealed class ApiTokenHttpTests(ApiTokenNodeFixture fixture) : IClassFixture<ApiTokenNodeFixture>
{
    private NodeProcess Node => fixture.Node;

    private async Task<(AccountDto Account, CreatedApiClient Client)> ClientAsync()
    {
        var account = await fixture.SendAsync(new CreateAccount($"Tok {Guid.NewGuid():N}"[..20], "", "ops@example.com"));
        return (account, await fixture.SendAsync(new CreateApiClient(account.Id, "ansible")));
    }

    /// <summary>The older token request: everything in the query string, no body.</summary>
    private async Task<string> QueryTokenAsync(CreatedApiClient client)
    {
        using var http = Node.Anonymous();
        var response = await http.PostAsync($"/oauth/token?grant_type=client_credentials&client_id={Uri.EscapeDataString(client.Client.ClientId)}"
                                             + $"&client_secret={Uri.EscapeDataString(client.Secret)}", null);
        var json = await JsonOf(response, HttpStatusCode.OK);
        (json.GetProperty("token_type").GetString(), json.GetProperty("expires_in").GetInt32()).ShouldBe(("Bearer", 3600));
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();
        return json.GetProperty("access_token").GetString()!;
    }

    private HttpClient Bearer(string token)
    {
        var http = Node.Anonymous();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, text);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task ShouldBeError(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        var json = await JsonOf(response, status);
        json.GetProperty("error").GetString().ShouldBe(error);
        json.GetProperty("error_description").GetString().ShouldNotBeNullOrWhiteSpace();
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<int> TokenCountAsync(Guid accountId)
    {
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().QuerySession();
        return await session.Query<RegistrationToken>().CountAsync(t => t.AccountId == accountId);
    }

    [Fact]
    public async Task A_script_gets_a_token_by_query_string_then_creates_lists_and_revokes_registration_tokens_in_SSMs_shape()
    {
        var (account, client) = await ClientAsync();
        using var http = Bearer(await QueryTokenAsync(client));
        var tokens = $"/api/v1/accounts/{Uri.EscapeDataString(account.Name)}/virtual-accounts/DEFAULT/tokens";

        var virtualAccount = (await JsonOf(await http.GetAsync($"/api/v1/accounts/{account.Id}/virtual-accounts"), HttpStatusCode.OK))
            .GetProperty("virtualAccounts").EnumerateArray().ShouldHaveSingleItem();
        virtualAccount.EnumerateObject().Select(p => p.Name).ShouldBe(["id", "name", "description", "isDefault"]);
        (virtualAccount.GetProperty("id").GetGuid(), virtualAccount.GetProperty("name").GetString()).ShouldBe((account.Id, "DEFAULT"));

        var created = (await JsonOf(await http.PostAsync(tokens, Json("{\"description\":\"rollout\",\"expiresAfterDays\":30,\"exportControlled\":false}")),
            HttpStatusCode.OK)).GetProperty("tokenInfo");
        created.EnumerateObject().Select(p => p.Name).ShouldBe(["token", "description", "expirationDate", "exportControlled"]);
        var text = created.GetProperty("token").GetString()!;
        (created.GetProperty("description").GetString(), created.GetProperty("exportControlled").GetString()).ShouldBe(("rollout", "Not Allowed"));
        created.GetProperty("expirationDate").GetDateTimeOffset().ShouldBe(DateTimeOffset.UtcNow.AddDays(30), TimeSpan.FromMinutes(2));

        var listed = (await JsonOf(await http.GetAsync(tokens), HttpStatusCode.OK)).GetProperty("tokens").EnumerateArray().ShouldHaveSingleItem();
        listed.EnumerateObject().Select(p => p.Name).ShouldBe(["token", "description", "expirationDate", "exportControlled", "createdBy", "status"]);
        (listed.GetProperty("token").GetString(), listed.GetProperty("status").GetString(), listed.GetProperty("createdBy").GetString())
            .ShouldBe((text, "VALID", "api-client:ansible"));

        var revoked = (await JsonOf(await http.PostAsync($"{tokens}/revoke", Json($"{{\"token\":\"{text}\"}}")), HttpStatusCode.OK)).GetProperty("tokenInfo");
        revoked.GetProperty("status").GetString().ShouldBe("REVOKED");
        (await JsonOf(await http.GetAsync(tokens), HttpStatusCode.OK)).GetProperty("tokens")[0].GetProperty("status").GetString().ShouldBe("REVOKED");
        await ShouldBeError(await http.PostAsync($"{tokens}/revoke", Json($"{{\"token\":\"{text}\"}}")), HttpStatusCode.Conflict, "conflict");
    }

    [Theory]
    [InlineData("{\"description\":\"x\",\"expiresAfterDays\":-1}", "expiresAfterDays")]
    [InlineData("{\"description\":\"x\",\"expiresAfterDays\":0}", "expiresAfterDays")]
    [InlineData("{\"description\":\"x\"}", "expiresAfterDays is required")]
    [InlineData("{\"description\":\"x\",\"expiresAfterDays\":\"30\"}", "whole number")]
    [InlineData("{\"description\":7,\"expiresAfterDays\":30}", "description")]
    [InlineData("{\"expiresAfterDays\":30,\"exportControlled\":\"no\"}", "exportControlled")]
    [InlineData("{\"expiresAfterDays\":", "not valid JSON")]
    [InlineData("[30]", "JSON object")]
    [InlineData("", "JSON body")]
    public async Task A_bad_token_request_gets_400_with_the_reason_and_writes_nothing(string body, string reason)
    {
        var (account, client) = await ClientAsync();
        using var http = Bearer(await QueryTokenAsync(client));

        var response = await http.PostAsync($"/api/v1/accounts/{account.Id}/virtual-accounts/DEFAULT/tokens", Json(body));

        var json = await JsonOf(response, HttpStatusCode.BadRequest);
        json.GetProperty("error").GetString().ShouldBe("invalid_request");
        json.GetProperty("error_description").GetString()!.ShouldContain(reason);
        (await TokenCountAsync(account.Id)).ShouldBe(0);
    }

    [Fact]
    public async Task Unknown_virtual_accounts_other_accounts_and_their_tokens_are_refused_and_nothing_is_written()
    {
        var (account, client) = await ClientAsync();
        var (other, otherClient) = await ClientAsync();
        using var http = Bearer(await QueryTokenAsync(client));
        using var otherHttp = Bearer(await QueryTokenAsync(otherClient));
        var theirs = (await JsonOf(await otherHttp.PostAsync($"/api/v1/accounts/{other.Id}/virtual-accounts/DEFAULT/tokens",
            Json("{\"description\":\"theirs\",\"expiresAfterDays\":5}")), HttpStatusCode.OK)).GetProperty("tokenInfo").GetProperty("token").GetString()!;
        const string body = "{\"description\":\"x\",\"expiresAfterDays\":30}";

        await ShouldBeError(await http.PostAsync($"/api/v1/accounts/{account.Id}/virtual-accounts/Nope/tokens", Json(body)), HttpStatusCode.NotFound, "not_found");
        await ShouldBeError(await http.GetAsync($"/api/v1/accounts/{account.Id}/virtual-accounts/Nope/tokens"), HttpStatusCode.NotFound, "not_found");
        await ShouldBeError(await http.PostAsync($"/api/v1/accounts/{other.Id}/virtual-accounts/DEFAULT/tokens", Json(body)), HttpStatusCode.Forbidden,
            "insufficient_scope");
        await ShouldBeError(await http.GetAsync($"/api/v1/accounts/{other.Id}/virtual-accounts/DEFAULT/tokens"), HttpStatusCode.Forbidden,
            "insufficient_scope");
        await ShouldBeError(await http.PostAsync("/api/v1/accounts/no-such-account/virtual-accounts/DEFAULT/tokens", Json(body)), HttpStatusCode.Forbidden,
            "insufficient_scope");
        await ShouldBeError(await http.PostAsync($"/api/v1/accounts/{account.Id}/virtual-accounts/DEFAULT/tokens/revoke", Json($"{{\"token\":\"{theirs}\"}}")),
            HttpStatusCode.NotFound, "not_found");
        await ShouldBeError(await http.PostAsync($"/api/v1/accounts/{account.Id}/virtual-accounts/DEFAULT/tokens/revoke", Json("{}")),
            HttpStatusCode.BadRequest, "invalid_request");

        (await TokenCountAsync(account.Id)).ShouldBe(0);
        (await JsonOf(await otherHttp.GetAsync($"/api/v1/accounts/{other.Id}/virtual-accounts/default/tokens"), HttpStatusCode.OK))
            .GetProperty("tokens")[0].GetProperty("status").GetString().ShouldBe("VALID");
    }

    [Fact]
    public async Task A_token_request_in_the_query_string_is_refused_like_the_body_form()
    {
        var (_, client) = await ClientAsync();
        using var http = Node.Anonymous();

        await ShouldBeError(await http.PostAsync($"/oauth/token?grant_type=client_credentials&client_id={client.Client.ClientId}&client_secret=wrong", null),
            HttpStatusCode.Unauthorized, "invalid_client");
        await ShouldBeError(await http.PostAsync($"/oauth/token?grant_type=password&client_id={client.Client.ClientId}&client_secret=x", null),
            HttpStatusCode.BadRequest, "unsupported_grant_type");
        await ShouldBeError(await http.PostAsync("/oauth/token?grant_type=client_credentials", null), HttpStatusCode.BadRequest, "invalid_request");
    }

    [Fact]
    public async Task Without_a_bearer_token_the_token_calls_are_refused_even_with_the_dashboard_cookie()
    {
        var (account, _) = await ClientAsync();
        using var signedIn = await Node.SignedInAsync();

        await ShouldBeError(await signedIn.GetAsync($"/api/v1/accounts/{account.Id}/virtual-accounts/DEFAULT/tokens"), HttpStatusCode.Unauthorized,
            "invalid_request");
        (await TokenCountAsync(account.Id)).ShouldBe(0);
    }
}
