using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Npgsql;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Node;

/// <summary>Issue 11, items 6 and 7, each played by the attacker: plain HTTP, stale sessions, login floods, cross-site writes.</summary>
[Collection(NodeCollection.Name)]
public sealed partial class WebSecurityTests(NodeFixture fixture)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(5);
    private NodeProcess Node => fixture.Node;

    private HttpClient PlainHttp() => new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = Node.HttpAddress };

    private async Task<long> CountAccountsNamed(string name)
    {
        await using var connection = new NpgsqlConnection(Node.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from ssm.mt_doc_localaccount where data->>'NameKey' = upper(@name)", connection);
        command.Parameters.AddWithValue("name", name);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Polls until the answer has the status, failing with the last one seen after five seconds; returns how long it took.</summary>
    private static async Task<TimeSpan> WaitForStatusAsync(Func<Task<HttpResponseMessage>> send, HttpStatusCode expected)
    {
        var clock = Stopwatch.StartNew();
        HttpStatusCode last;
        do
        {
            using var response = await send();
            last = response.StatusCode;
            if (last == expected)
                return clock.Elapsed;
            await Task.Delay(100);
        }
        while (clock.Elapsed < Propagation);
        throw new TimeoutException($"still {last} after {Propagation.TotalSeconds} s, expected {expected}");
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/accounts?page=2")]
    [InlineData("/login")]
    public async Task The_HTTP_port_sends_page_navigations_to_the_same_path_on_HTTPS(string path)
    {
        using var http = PlainHttp();
        var response = await http.GetAsync(path);

        response.StatusCode.ShouldBe(HttpStatusCode.PermanentRedirect);
        response.Headers.Location.ShouldBe(new Uri(Node.BaseAddress, path));
    }

    [Theory]
    [InlineData("POST", "/api/session")]
    [InlineData("GET", "/api/accounts")]
    [InlineData("POST", "/api/accounts")]
    [InlineData("POST", "/backend/oauth/token")]
    [InlineData("GET", "/api/v1/accounts/Lab/alerts")]
    [InlineData("GET", "/metrics")]
    [InlineData("POST", "/account/login")]
    public async Task The_HTTP_port_refuses_the_APIs_and_logins_even_with_the_right_password(string method, string path)
    {
        using var http = PlainHttp();
        var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = JsonContent.Create(new { userName = "admin", password = NodeProcess.AdminPassword }),
        });

        response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        response.Headers.Contains("Set-Cookie").ShouldBeFalse();
        (await response.Content.ReadAsStringAsync()).ShouldContain(Node.BaseAddress.ToString().TrimEnd('/'));
    }

    [Theory]
    [InlineData("/health/live", HttpStatusCode.OK)]
    [InlineData("/health/ready", HttpStatusCode.OK)]
    [InlineData("/admin/ha/status", HttpStatusCode.Forbidden)]
    [InlineData("/peer/heartbeat", HttpStatusCode.Forbidden)]
    public async Task Only_health_stays_on_the_HTTP_port_and_the_cluster_calls_are_refused_there(string path, HttpStatusCode expected)
    {
        using var http = PlainHttp();
        (await http.GetAsync(path)).StatusCode.ShouldBe(expected);
    }

    [Fact]
    public async Task The_login_cookie_is_Secure_and_HTTPS_answers_carry_HSTS()
    {
        using var client = Node.Anonymous();
        var response = await client.PostAsJsonAsync("/api/session", new { userName = "admin", password = NodeProcess.AdminPassword });

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(CrossSiteGuard.CookieName + "="));
        cookie.ShouldContain("secure", Case.Insensitive);
        cookie.ShouldContain("httponly", Case.Insensitive);
        cookie.ShouldContain("samesite=strict", Case.Insensitive);
        response.Headers.GetValues("Strict-Transport-Security").Single().ShouldContain("max-age=");
    }

    [Fact]
    public async Task A_demoted_admins_cookie_is_refused_writes_within_five_seconds_and_reads_the_new_role()
    {
        await Node.SetPasswordAsync("demoted", "demoted-password-1", "admin");
        using var client = await Node.SignedInAsync("demoted", "demoted-password-1");
        // An admin may try this write (404: no such account); a viewer may not (403).
        Task<HttpResponseMessage> Write() => client.PutAsJsonAsync($"/api/accounts/{Guid.NewGuid()}/description", new { description = "x" });
        (await Write()).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        await Node.SetPasswordAsync("demoted", "demoted-password-1", "viewer");

        await WaitForStatusAsync(Write, HttpStatusCode.Forbidden);
        (await client.GetFromJsonAsync<AuthEndpoints.SessionInfo>("/api/session"))!.Role.ShouldBe(CurrentUser.ViewerRole);
        (await client.GetAsync("/api/accounts")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_deleted_users_cookie_is_refused_within_five_seconds()
    {
        await Node.SetPasswordAsync("deleted", "deleted-password-1", "admin");
        using var client = await Node.SignedInAsync("deleted", "deleted-password-1");
        (await client.GetAsync("/api/accounts")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await using (var connection = new NpgsqlConnection(Node.ConnectionString))
        {
            await connection.OpenAsync();
            await using var delete = new NpgsqlCommand("delete from ssm.mt_doc_useraccount where id = 'deleted'", connection);
            (await delete.ExecuteNonQueryAsync()).ShouldBe(1);
        }

        await WaitForStatusAsync(() => client.GetAsync("/api/accounts"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_cookie_copied_before_logout_is_refused_after_logout()
    {
        var jar = Node.Certificates.Handler();
        using var victim = new HttpClient(jar) { BaseAddress = Node.BaseAddress };
        victim.DefaultRequestHeaders.Add(CrossSiteGuard.RequestedWithHeader, "tests");
        (await victim.PostAsJsonAsync("/api/session", new { userName = "admin", password = NodeProcess.AdminPassword })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var stolen = jar.CookieContainer.GetCookieHeader(Node.BaseAddress);
        stolen.ShouldStartWith(CrossSiteGuard.CookieName + "=");
        using var thief = new HttpClient(Node.Certificates.Handler(cookies: false)) { BaseAddress = Node.BaseAddress };
        thief.DefaultRequestHeaders.Add("Cookie", stolen);
        (await thief.GetAsync("/api/accounts")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await victim.DeleteAsync("/api/session")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await thief.GetAsync("/api/accounts")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_login_flood_from_one_source_gets_429_while_the_admin_logs_in_from_another()
    {
        using var attacker = Node.Anonymous(IPAddress.Parse("127.0.0.2"));
        HttpResponseMessage? refused = null;
        // Guesses at the admin and at other names, as a flood would: the source is stopped, not the user.
        for (var attempt = 0; attempt <= LoginThrottle.FailuresPerSource && refused is null; attempt++)
        {
            var response = await attacker.PostAsJsonAsync("/api/session", new { userName = $"user{attempt % 7}", password = $"guess-{attempt}" });
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                refused = response;
            else
                response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        refused.ShouldNotBeNull("the flood was never throttled");
        int.Parse(refused.Headers.GetValues("Retry-After").Single()).ShouldBeInRange(1, (int)LoginThrottle.Window.TotalSeconds);
        // The right password from the flooding source is not even checked.
        (await attacker.PostAsJsonAsync("/api/session", new { userName = "admin", password = NodeProcess.AdminPassword })).StatusCode
            .ShouldBe(HttpStatusCode.TooManyRequests);
        (await FormLoginAsync(attacker, "admin", NodeProcess.AdminPassword)).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        using var admin = await Node.SignedInAsync(source: IPAddress.Parse("127.0.0.3"));
        (await admin.GetAsync("/api/accounts")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Wrong_passwords_for_one_user_from_one_source_do_not_lock_that_user_out_elsewhere()
    {
        await Node.SetPasswordAsync("targeted", "targeted-password-1", "viewer");
        using var attacker = Node.Anonymous(IPAddress.Parse("127.0.0.5"));
        for (var attempt = 0; attempt < LoginThrottle.FailuresPerUserAndSource; attempt++)
            (await attacker.PostAsJsonAsync("/api/session", new { userName = "targeted", password = "wrong-password" })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await attacker.PostAsJsonAsync("/api/session", new { userName = "targeted", password = "targeted-password-1" })).StatusCode
            .ShouldBe(HttpStatusCode.TooManyRequests);

        using var owner = await Node.SignedInAsync("targeted", "targeted-password-1", IPAddress.Parse("127.0.0.6"));
        (await owner.GetFromJsonAsync<AuthEndpoints.SessionInfo>("/api/session"))!.UserName.ShouldBe("targeted");
    }

    private async Task<HttpResponseMessage> FormLoginAsync(HttpClient client, string user, string password)
    {
        var page = await client.GetStringAsync("/login");
        var match = AntiforgeryToken().Match(page);
        var token = match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value;
        token.ShouldNotBeEmpty(page);
        return await client.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token), ["userName"] = user, ["password"] = password, ["returnUrl"] = "/",
        }));
    }

    [GeneratedRegex("<input[^>]*name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"|<input[^>]*value=\"([^\"]+)\"[^>]*name=\"__RequestVerificationToken\"")]
    private static partial Regex AntiforgeryToken();

    [Fact]
    public async Task An_unknown_user_and_a_wrong_password_get_byte_identical_answers_in_similar_time()
    {
        using var client = Node.Anonymous(IPAddress.Parse("127.0.0.4"));
        async Task<(HttpResponseMessage Response, byte[] Body, TimeSpan Took)> TryAsync(string user)
        {
            var clock = Stopwatch.StartNew();
            var response = await client.PostAsJsonAsync("/api/session", new { userName = user, password = "not-the-password" });
            var body = await response.Content.ReadAsByteArrayAsync();
            return (response, body, clock.Elapsed);
        }
        var known = new List<TimeSpan>();
        var unknown = new List<TimeSpan>();
        for (var round = 0; round < 3; round++)
        {
            var wrong = await TryAsync("admin");
            var nobody = await TryAsync($"nobody{round}");
            wrong.Response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
            nobody.Response.StatusCode.ShouldBe(wrong.Response.StatusCode);
            nobody.Body.ShouldBe(wrong.Body);
            nobody.Response.Content.Headers.ContentType.ShouldBe(wrong.Response.Content.Headers.ContentType);
            nobody.Response.Headers.Select(h => h.Key).Order().ShouldBe(wrong.Response.Headers.Select(h => h.Key).Order());
            known.Add(wrong.Took);
            unknown.Add(nobody.Took);
        }
        // An unknown user's password is hashed too (against a decoy): it cannot answer many times faster.
        unknown.Order().ElementAt(1).ShouldBeGreaterThan(known.Order().ElementAt(1) / 4);
    }

    [Fact]
    public async Task A_cross_site_POST_with_a_valid_cookie_is_refused_and_changes_nothing()
    {
        using var client = await Node.SignedInAsync();
        client.DefaultRequestHeaders.Remove(CrossSiteGuard.RequestedWithHeader);
        HttpRequestMessage Create(string name, params (string Header, string Value)[] headers)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts") { Content = JsonContent.Create(new { name, description = "", contactEmail = "ops@example.com" }) };
            foreach (var (header, value) in headers)
                request.Headers.Add(header, value);
            return request;
        }

        var evil = await client.SendAsync(Create("Evil Origin", ("Origin", "https://evil.example")));
        evil.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await evil.Content.ReadAsStringAsync()).ShouldContain("Cross-site request refused");
        (await client.SendAsync(Create("Evil Origin", ("Origin", "https://evil.example"), (CrossSiteGuard.RequestedWithHeader, "x")))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await client.SendAsync(Create("Evil Fetch", ("Sec-Fetch-Site", "cross-site")))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await client.SendAsync(Create("Evil Form"))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await client.DeleteAsync("/api/session")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await CountAccountsNamed("Evil Origin")).ShouldBe(0);
        (await CountAccountsNamed("Evil Fetch")).ShouldBe(0);
        (await CountAccountsNamed("Evil Form")).ShouldBe(0);

        // The dashboard's own origin is let through, and so is a same-origin fetch.
        (await client.SendAsync(Create("Same Origin", ("Origin", Node.BaseAddress.ToString().TrimEnd('/'))))).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await client.SendAsync(Create("Same Fetch", ("Sec-Fetch-Site", "same-origin")))).StatusCode.ShouldBe(HttpStatusCode.Created);
    }
}
