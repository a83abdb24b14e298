using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Products;
using Ssm.Application.Registration;
using Ssm.Domain.Products;
using Ssm.Tests.Features.Api;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Users;

public sealed class UserNodeFixture : ApiNodeFixture
{
    protected override string Database => "ssm_users_node";
}

/// <summary>
/// Attacker tests over real HTTP against a real node: a viewer of account A, made through /api/users, gets nothing of
/// account B from any endpoint; a user must choose a password before anything; a disabled user is out at once.
/// </summary>
public sealed class UserHttpTests(UserNodeFixture fixture) : IClassFixture<UserNodeFixture>
{
    private const string First = "first-password-from-admin";
    private const string Own = "carols very own passphrase";

    private static async Task<JsonElement> OkJson(HttpResponseMessage response, HttpStatusCode status = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task ShouldBeRefused(HttpClient http, string path, HttpStatusCode status)
    {
        var response = await http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, $"{path}: {text}");
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json", path);
    }

    [Fact]
    public async Task A_viewer_of_A_made_through_the_api_reads_nothing_of_B_by_any_endpoint()
    {
        var node = fixture.Node;
        using var admin = await node.SignedInAsync();
        var a = await OperatorApi.CreateAccountAsync(admin, $"Alpha {Guid.NewGuid():N}"[..16]);
        var b = await OperatorApi.CreateAccountAsync(admin, $"Beta {Guid.NewGuid():N}"[..15]);
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await ApiSeed.LicensesAsync(store, a.Id);
        await ApiSeed.LicensesAsync(store, b.Id);
        await fixture.SendAsync(new CreateRegistrationToken(a.Id, $"token of {a.Name}", 30, null, false));
        await fixture.SendAsync(new CreateRegistrationToken(b.Id, $"token of {b.Name}", 30, null, false));
        Guid productOfB;
        await using (var session = store.QuerySession())
            productOfB = (await session.Query<ProductInstance>().FirstAsync(p => p.AccountId == b.Id)).Id;

        var userName = $"carol{Guid.NewGuid():N}"[..12];
        var created = await OkJson(await admin.PostAsJsonAsync("/api/users",
            new { userName, password = First, role = "Accounts", grants = new[] { new { accountId = a.Id, access = "Viewer" } } }), HttpStatusCode.Created);
        created.GetProperty("mustChangePassword").GetBoolean().ShouldBeTrue();

        using var carol = node.Anonymous(IPAddress.Parse("127.0.3.1"));
        var session1 = await OkJson(await carol.PostAsJsonAsync("/api/session", new { userName, password = First }));
        session1.GetProperty("mustChangePassword").GetBoolean().ShouldBeTrue();
        // Nothing but choosing a password until then.
        await ShouldBeRefused(carol, $"/api/licenses?accountId={a.Id}", HttpStatusCode.Forbidden);
        (await carol.PostAsJsonAsync("/api/session/password", new { currentPassword = First, newPassword = "password1234" })).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await carol.PostAsJsonAsync("/api/session/password", new { currentPassword = First, newPassword = Own })).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var session2 = await OkJson(await carol.GetAsync("/api/session"));
        (session2.GetProperty("role").GetString(), session2.GetProperty("mustChangePassword").GetBoolean()).ShouldBe(("accounts", false));

        // B by id: refused, on every endpoint that names an account; B's product answers as unknown.
        foreach (var path in new[]
                 {
                     $"/api/licenses?accountId={b.Id}", $"/api/product-instances?accountId={b.Id}", $"/api/accounts/{b.Id}/registration-tokens",
                     $"/api/accounts/{b.Id}/virtual-accounts", $"/api/accounts/{b.Id}/virtual-accounts/licenses", "/api/users",
                 })
            await ShouldBeRefused(carol, path, HttpStatusCode.Forbidden);
        await ShouldBeRefused(carol, $"/api/product-instances/{productOfB}", HttpStatusCode.NotFound);

        // Lists over every account: A's rows only.
        var licenses = await OkJson(await carol.GetAsync("/api/licenses"));
        licenses.EnumerateArray().Select(l => l.GetProperty("accountId").GetGuid()).Distinct().ShouldBe([a.Id]);
        var products = await OkJson(await carol.GetAsync("/api/product-instances?pageSize=100"));
        products.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("accountId").GetGuid()).Distinct().ShouldBe([a.Id]);
        var accounts = await OkJson(await carol.GetAsync("/api/accounts?pageSize=100"));
        accounts.GetProperty("items").EnumerateArray().Select(x => x.GetProperty("id").GetGuid()).ShouldBe([a.Id]);
        var tokens = await OkJson(await carol.GetAsync($"/api/accounts/{a.Id}/registration-tokens"));
        tokens.EnumerateArray().Select(t => t.GetProperty("description").GetString()).ShouldBe([$"token of {a.Name}"]);
        var events = await carol.GetStringAsync("/api/events?pageSize=100");
        events.ShouldContain($"token of {a.Name}");
        events.ShouldNotContain($"token of {b.Name}");
        var csv = await carol.GetStringAsync("/api/events.csv");
        csv.ShouldContain($"token of {a.Name}");
        csv.ShouldNotContain($"token of {b.Name}");
        // The admin's own view has B, so the narrowing is the scope's doing.
        (await admin.GetStringAsync("/api/events.csv")).ShouldContain($"token of {b.Name}");

        // Disabled: out within the session check's second, and no new sign-in.
        (await admin.PutAsJsonAsync($"/api/users/{userName}/disabled", new { disabled = true })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await carol.GetAsync("/api/session")).StatusCode != HttpStatusCode.Unauthorized)
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the disabled user's session still answered");
            await Task.Delay(100);
        }
        using var again = node.Anonymous(IPAddress.Parse("127.0.3.2"));
        (await again.PostAsJsonAsync("/api/session", new { userName, password = Own })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Users_are_managed_through_the_api_by_system_administrators_only_with_problem_details_for_bad_input()
    {
        using var admin = await fixture.Node.SignedInAsync();
        var userName = $"vic{Guid.NewGuid():N}"[..10];

        var weak = await admin.PostAsJsonAsync("/api/users", new { userName, password = "qwerty123456", role = "Viewer" });
        var problem = await OkJson(weak, HttpStatusCode.BadRequest);
        problem.GetProperty("errors").GetProperty("Password")[0].GetString()!.ShouldContain("most common");
        (await OkJson(await admin.PostAsJsonAsync("/api/users", new { userName, password = First, role = "Viewer" }), HttpStatusCode.Created))
            .GetProperty("role").GetString().ShouldBe("Viewer");
        (await admin.PostAsJsonAsync("/api/users", new { userName, password = First, role = "Viewer" })).StatusCode.ShouldBe(HttpStatusCode.Conflict);
        (await admin.PutAsJsonAsync($"/api/users/{userName}/roles", new { role = "Accounts", grants = Array.Empty<object>() })).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        using var vic = fixture.Node.Anonymous(IPAddress.Parse("127.0.3.3"));
        (await vic.PostAsJsonAsync("/api/session", new { userName, password = First })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await vic.PostAsJsonAsync("/api/session/password", new { currentPassword = First, newPassword = Own })).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        // A viewer of every account is not a system administrator.
        (await vic.GetAsync("/api/users")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await vic.PostAsJsonAsync($"/api/users/{userName}/password-reset", new { password = "another fine passphrase" })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        (await admin.PostAsJsonAsync($"/api/users/{userName}/password-reset", new { password = "temporary passphrase" })).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var listed = await OkJson(await admin.GetAsync("/api/users"));
        listed.EnumerateArray().Single(u => u.GetProperty("userName").GetString() == userName).GetProperty("mustChangePassword").GetBoolean().ShouldBeTrue();
        (await admin.DeleteAsync($"/api/users/{userName}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await admin.DeleteAsync($"/api/users/{userName}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
