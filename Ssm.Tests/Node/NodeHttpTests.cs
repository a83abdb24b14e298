using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using Ssm.Tests.Support;

namespace Ssm.Tests.Node;

[Collection(NodeCollection.Name)]
public sealed class NodeHttpTests(NodeFixture fixture)
{
    private NodeProcess Node => fixture.Node;

    private async Task<long> CountAccountsNamed(string name)
    {
        await using var connection = new NpgsqlConnection(Node.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from ssm.mt_doc_localaccount where data->>'NameKey' = upper(@name)", connection);
        command.Parameters.AddWithValue("name", name);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Theory]
    [InlineData("GET", "/api/accounts")]
    [InlineData("POST", "/api/accounts")]
    [InlineData("GET", "/api/events")]
    [InlineData("GET", "/api/events.csv")]
    [InlineData("GET", "/metrics")]
    [InlineData("POST", "/account/logout")]
    [InlineData("GET", "/_blazor/negotiate")]
    [InlineData("PUT", "/api/accounts/01a218cb-a53d-750e-b39e-e8d12e5f87d1/description")]
    [InlineData("DELETE", "/api/accounts/01a218cb-a53d-750e-b39e-e8d12e5f87d1?confirm=x")]
    [InlineData("GET", "/admin/ha/status")]
    [InlineData("POST", "/peer/heartbeat")]
    public async Task Without_credentials_every_endpoint_but_login_and_health_is_refused(string method, string path)
    {
        using var client = Node.Anonymous();
        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = JsonContent.Create(new { }) });
        ((int)response.StatusCode).ShouldBeOneOf(401, 403);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/accounts")]
    [InlineData("/events")]
    public async Task Without_credentials_a_page_sends_the_browser_to_the_login_page(string path)
    {
        using var client = Node.Anonymous();
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/html");
        var response = await client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("/login");
        (await response.Content.ReadAsStringAsync()).ShouldNotContain("Local accounts");
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    [InlineData("/login")]
    public async Task Health_and_login_answer_without_credentials(string path)
    {
        using var client = Node.Anonymous();
        (await client.GetAsync(path)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_wrong_password_is_refused_with_a_clear_message()
    {
        using var client = Node.Anonymous();
        var response = await client.PostAsJsonAsync("/api/session", new { userName = "admin", password = "not the password" });
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await response.Content.ReadAsStringAsync()).ShouldContain("Wrong user name or password");
    }

    [Fact]
    public async Task The_login_form_without_its_antiforgery_token_is_refused()
    {
        using var client = Node.Anonymous();
        var response = await client.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["userName"] = "admin", ["password"] = NodeProcess.AdminPassword,
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Headers.Contains("Set-Cookie").ShouldBeFalse();
    }

    [Fact]
    public async Task An_admin_creates_an_account_over_HTTP_and_a_duplicate_gets_409()
    {
        using var client = await Node.SignedInAsync();
        var created = await client.PostAsJsonAsync("/api/accounts", new { name = "Http One", description = "", contactEmail = "ops@example.com" });
        created.StatusCode.ShouldBe(HttpStatusCode.Created);

        var duplicate = await client.PostAsJsonAsync("/api/accounts", new { name = "HTTP ONE", description = "", contactEmail = "ops@example.com" });
        duplicate.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        duplicate.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await duplicate.Content.ReadAsStringAsync()).ShouldContain("already exists");
        (await CountAccountsNamed("Http One")).ShouldBe(1);
    }

    [Fact]
    public async Task Invalid_input_gets_400_problem_details_naming_the_field_and_writes_nothing()
    {
        using var client = await Node.SignedInAsync();
        var response = await client.PostAsJsonAsync("/api/accounts", new { name = "bad;name", description = "", contactEmail = "ops@example.com" });

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("errors").TryGetProperty("Name", out _).ShouldBeTrue();
        (await CountAccountsNamed("bad;name")).ShouldBe(0);
    }

    [Fact]
    public async Task Malformed_json_and_oversized_bodies_get_4xx_not_500()
    {
        using var client = await Node.SignedInAsync();
        var malformed = await client.PostAsync("/api/accounts", new StringContent("{\"name\":", Encoding.UTF8, "application/json"));
        malformed.StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        var huge = new string('x', 2 * 1024 * 1024);
        // Expect: 100-continue lets the node refuse on the Content-Length alone, before the body is sent.
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts")
        {
            Content = JsonContent.Create(new { name = "Huge", description = huge, contactEmail = "ops@example.com" }),
        };
        await request.Content.LoadIntoBufferAsync();
        request.Headers.ExpectContinue = true;
        var oversized = await client.SendAsync(request);
        oversized.StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge);
        (await CountAccountsNamed("Huge")).ShouldBe(0);
    }

    [Fact]
    public async Task Event_filters_outside_the_whitelist_get_400()
    {
        using var client = await Node.SignedInAsync();
        (await client.GetAsync("/api/events?category=Accounts")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/api/events?category=Accounts'%20OR%201=1--")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await client.GetAsync("/api/events?sort=data-%3E%3E'Actor'")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await client.GetAsync("/api/events?pageSize=100000")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_event_log_downloads_as_csv_with_formula_cells_defused()
    {
        // An attacker chooses the user name of a failed login, and the Event Log records it as the actor:
        // Excel's classic DDE payload, with a quote and a comma to escape as well.
        const string formula = "=cmd|' /C \"calc\",'!A0";
        using (var attacker = Node.Anonymous(IPAddress.Parse("127.0.0.77")))
            (await attacker.PostAsJsonAsync("/api/session", new { userName = formula, password = "x" })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        await Node.SetPasswordAsync("vicky", "viewer-password-456", "viewer");
        using var client = await Node.SignedInAsync("vicky", "viewer-password-456");
        var response = await client.GetAsync("/api/events.csv?category=Security&outcome=Failure&sort=OldestFirst", HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/csv");
        response.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
        response.Content.Headers.ContentDisposition.FileName!.ShouldEndWith(".csv");
        var csv = await response.Content.ReadAsStringAsync();

        var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("At,Actor,Category,Action,Subject,Outcome,Detail");
        lines.Skip(1).ShouldAllBe(line => line.Contains(",Security,") && line.Contains(",Failure,"));
        csv.ShouldContain(",\"'=cmd|' /C \"\"calc\"\",'!A0\",Security,SignIn,\"'=cmd|' /C \"\"calc\"\",'!A0\",Failure,");
        csv.ShouldNotContain(",=cmd");

        (await client.GetAsync("/api/events.csv?category=Nope")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await client.GetAsync("/api/events.csv?from=2026-12-04T00:00:00Z&to=2026-12-01T00:00:00Z")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_viewer_reads_but_cannot_write()
    {
        await Node.SetPasswordAsync("vera", "viewer-password-123", "viewer");
        using var client = await Node.SignedInAsync("vera", "viewer-password-123");

        (await client.GetAsync("/api/accounts")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var write = await client.PostAsJsonAsync("/api/accounts", new { name = "Viewer Was Here", description = "", contactEmail = "ops@example.com" });
        write.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await write.Content.ReadAsStringAsync()).ShouldContain("admin role");
        (await CountAccountsNamed("Viewer Was Here")).ShouldBe(0);
    }

    [Fact]
    public async Task Metrics_count_mediator_commands_in_prometheus_format()
    {
        using var client = await Node.SignedInAsync();
        await client.GetAsync("/api/accounts");
        var metrics = await client.GetStringAsync("/metrics");
        metrics.ShouldContain("ssm_mediator_messages_total");
        metrics.ShouldContain("message=\"ListAccounts\"");
        metrics.ShouldContain("http_server_request_duration_seconds");
    }
}
