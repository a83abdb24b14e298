using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ssm.Application.Licenses;
using Ssm.Application.Registration;
using Ssm.Tests.Support;
using Ssm.Web.Endpoints;
using Ssm.ProductSimulator;

namespace Ssm.Tests.Node;

/// <summary>Smart Transport over real HTTPS on a real node: products as the simulator plays them, and every way to get it wrong.</summary>
[Collection(ProductNodeCollection.Name)]
public sealed class SmartTransportTests(ProductNodeFixture fixture)
{
    private const string Tag = "regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40";
    private static int _serial;

    private static string NextSerial() => $"FOX{Interlocked.Increment(ref _serial):00000}{Random.Shared.Next(1000, 9999)}";

    private static UsageReport Report(string id, int count) => new(id, Tag, count, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow);

    private static async Task<(int Status, JsonElement Body)> PostAsync(HttpClient client, string body, string path = SmartTransportEndpoints.Path)
    {
        using var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private HttpClient Raw(int source = 7) => fixture.Raw(IPAddress.Parse($"127.0.99.{source}"));

    [Fact]
    public async Task Products_register_report_renew_and_deregister_over_HTTPS_and_the_licenses_show_their_use()
    {
        using var product = fixture.Product(1);
        var before = await InUseAsync();
        var a = await product.RegisterAsync(fixture.Token.Secret, "C9300-24T", NextSerial(), "edge-1");
        var b = await product.RegisterAsync(fixture.Token.Secret, "C9300-48P", NextSerial(), "edge-2");
        await product.ReportAsync(a, [Report("r-1", 3)]);
        await product.ReportAsync(b, [Report("r-1", 2)]);

        var dna = await LicenseAsync();
        dna.InUse.ShouldBe(before + 5); // other tests of the class report on the same account: count this test's own
        dna.Purchased.ShouldBe(100);
        dna.Available.ShouldBe(dna.Purchased - dna.InUse);

        var authorized = await product.AuthorizeAsync(a, [new EntitlementRequest(Tag, 2), new EntitlementRequest(Tag + ".unknown", 1)]);
        var answers = authorized.GetProperty("entitlements").EnumerateArray().ToList();
        answers[0].GetProperty("authorized").GetBoolean().ShouldBeTrue();
        answers[1].GetProperty("authorized").GetBoolean().ShouldBeFalse();

        var renewed = await product.RenewAsync(a);
        renewed.IdCertificate.ShouldNotBe(a.IdCertificate);
        await product.ReportAsync(renewed, [Report("r-2", 1)]);

        await product.DeregisterAsync(b);
        var gone = await Should.ThrowAsync<ProductRefusedException>(() => product.ReportAsync(b, [Report("r-3", 1)]));
        gone.Code.ShouldBe("NOT_REGISTERED");
        gone.Status.ShouldBe(401);
    }

    private async Task<LicenseDto> LicenseAsync() =>
        (await fixture.Admin.GetFromJsonAsync<List<LicenseDto>>($"/api/licenses?accountId={fixture.Account.Id}", TestCluster.Json))!.Single(l => l.Tag == Tag);

    private async Task<int> InUseAsync() => (await LicenseAsync()).InUse;

    [Fact]
    public async Task Products_register_and_report_on_the_product_port_at_the_URLs_devices_are_configured_with()
    {
        // As `call-home profile CiscoTAC-1 destination address http https://<host>/Transportgateway/services/DeviceRequestHandler`.
        using var callHome = new ProductClient(new Uri(fixture.ProductServer, SmartTransportEndpoints.CallHomePath), fixture.Csc.Root,
            source: IPAddress.Parse("127.0.98.1"));
        using var smartTransport = new ProductClient(fixture.ProductServer, fixture.Csc.Root, source: IPAddress.Parse("127.0.98.2"));
        var before = await InUseAsync();

        var a = await callHome.RegisterAsync(fixture.Token.Secret, "C9300-24T", NextSerial(), "port-a");
        var b = await smartTransport.RegisterAsync(fixture.Token.Secret, "C9300-24T", NextSerial(), "port-b");
        await callHome.ReportAsync(a, [Report("p-1", 2)]);
        await smartTransport.ReportAsync(b, [Report("p-1", 1)]);

        (await InUseAsync()).ShouldBe(before + 3);
        (await callHome.RenewAsync(a)).InstanceId.ShouldBe(a.InstanceId);
    }

    [Theory]
    [InlineData("GET", "/")]
    [InlineData("GET", "/login")]
    [InlineData("POST", "/backend/oauth/token")]
    [InlineData("POST", "/oauth/token?grant_type=client_credentials&client_id=x&client_secret=y")]
    [InlineData("GET", "/api/v1/accounts/Products/licenses")]
    [InlineData("GET", "/api/accounts")]
    [InlineData("GET", "/metrics")]
    public async Task The_product_port_serves_neither_the_dashboard_nor_the_API_toolkit(string method, string path)
    {
        using var client = fixture.Raw(IPAddress.Parse("127.0.98.3"), fixture.ProductServer);

        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.NotFound, text);
        JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString()!.ShouldContain($"port {fixture.HttpsPort}");
        (await client.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_Host_Common_Name_rule_holds_on_the_product_port()
    {
        // A product that asks for another name than the certificate's: its TLS check of the name is waived here, so the node's own rule answers.
        using var client = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                CscEmulatorProcess.TrustedBy(fixture.Csc.Root, certificate, errors & ~System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) },
        }) { BaseAddress = fixture.ProductServer };
        var before = await fixture.FingerprintAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, SmartTransportEndpoints.CallHomePath)
        {
            Content = new StringContent($$"""{"request":"register","token":"{{fixture.Token.Secret}}","udi":{"pid":"C9300-24T","sn":"{{NextSerial()}}"},"csr":"x"}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Host = "other.example.test";

        using var response = await client.SendAsync(request);

        var text = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(421, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe("HOST_NAME_MISMATCH");
        error.GetProperty("message").GetString()!.ShouldContain("other.example.test");
        error.GetProperty("message").GetString()!.ShouldContain(ProductNodeFixture.HostName);
        (await fixture.FingerprintAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task The_Smart_Call_Home_alias_answers_like_Smart_Transport()
    {
        using var client = Raw();
        var (status, body) = await PostAsync(client, """{"request":"register","token":"nope","udi":{"pid":"C9300-24T","sn":"FOC1"},"csr":"x"}""",
            SmartTransportEndpoints.CallHomePath);
        status.ShouldBe(401);
        body.GetProperty("error").GetProperty("code").GetString().ShouldBe("TOKEN_UNKNOWN");
    }

    [Fact]
    public async Task Bad_requests_get_a_clear_JSON_error_each_and_nothing_is_written()
    {
        using var product = fixture.Product(2);
        var registered = await product.RegisterAsync(fixture.Token.Secret, "C9300-24T", NextSerial(), "bad-input");
        await product.ReportAsync(registered, [Report("r-once", 1)]);
        var before = await fixture.FingerprintAsync();
        using var client = Raw(8);

        async Task Refused(string body, int status, string code)
        {
            var (actual, answer) = await PostAsync(client, body);
            actual.ShouldBe(status, answer.ToString());
            answer.GetProperty("status").GetString().ShouldBe("FAILURE");
            answer.GetProperty("error").GetProperty("code").GetString().ShouldBe(code);
            answer.GetProperty("error").GetProperty("message").GetString().ShouldNotBeNullOrWhiteSpace();
        }

        await Refused("{not json", 400, "MALFORMED_REQUEST");
        await Refused("[]", 400, "MALFORMED_REQUEST");
        await Refused("""{"request":"fly"}""", 400, "MALFORMED_REQUEST");
        await Refused("""{"request":"register","token":"x","udi":{"pid":"C9300","sn":"FOC1"},"csr":"x","force":"yes"}""", 400, "MALFORMED_REQUEST");
        await Refused("""{"request":"register","token":"","udi":{"pid":"","sn":""}}""", 400, "MALFORMED_REQUEST");
        await Refused($$"""{"request":"register","token":"{{new string('x', 70_000)}}"}""", 413, "REQUEST_TOO_LARGE");
        await Refused("""{"request":"register","token":"unknown-token","udi":{"pid":"C9300-24T","sn":"FOC1"},"publicKey":"x"}""", 401, "TOKEN_UNKNOWN");
        await Refused("""{"request":"report","reports":[]}""", 401, "NOT_REGISTERED");

        var revoked = await OperatorApi.CreateTokenAsync(fixture.Admin, fixture.Account.Id);
        (await fixture.Admin.PostAsync($"/api/registration-tokens/{revoked.Token.Id}/revoke", null)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var afterRevoke = await fixture.FingerprintAsync();
        var refusedToken = await Should.ThrowAsync<ProductRefusedException>(() =>
            product.RegisterAsync(revoked.Secret, "C9300-24T", NextSerial(), "late"));
        refusedToken.Code.ShouldBe("TOKEN_REVOKED");
        var duplicate = await Should.ThrowAsync<ProductRefusedException>(() =>
            product.RegisterAsync(fixture.Token.Secret, registered.Pid, registered.SerialNumber, "twin"));
        duplicate.Code.ShouldBe("DUPLICATE_PRODUCT");
        var replay = await Should.ThrowAsync<ProductRefusedException>(() => product.ReportAsync(registered, [Report("r-once", 1)]));
        replay.Code.ShouldBe("REPORT_REPLAYED");
        var forged = registered with { PrivateKeyPem = System.Security.Cryptography.ECDsa.Create().ExportPkcs8PrivateKeyPem() };
        (await Should.ThrowAsync<ProductRefusedException>(() => product.ReportAsync(forged, [Report("r-forged", 1)]))).Code.ShouldBe("SIGNATURE_INVALID");

        (await fixture.FingerprintAsync()).ShouldBe(afterRevoke);
        before.ShouldNotBe(afterRevoke); // the revocation itself is a write: the fingerprint sees writes
    }

    [Fact]
    public async Task Plain_HTTP_is_refused_and_a_product_checks_the_server_name()
    {
        using var http = new HttpClient { BaseAddress = fixture.Node.HttpAddress };
        var (status, body) = await PostAsync(http, """{"request":"register"}""");
        status.ShouldBe(403);
        body.GetProperty("error").GetProperty("code").GetString().ShouldBe("HTTPS_REQUIRED");

        // The certificate names 127.0.0.1: a product configured with another name for the same server does not trust it.
        using var misnamed = new ProductClient(new Uri($"https://localhost:{fixture.HttpsPort}/"), fixture.Csc.Root);
        var error = await Should.ThrowAsync<HttpRequestException>(() => misnamed.RegisterAsync(fixture.Token.Secret, "C9300-24T", NextSerial(), "x"));
        error.InnerException.ShouldBeOfType<System.Security.Authentication.AuthenticationException>();
    }

    [Fact]
    public async Task Too_many_requests_from_one_source_are_refused_with_429_and_others_still_get_through()
    {
        using var client = Raw(9);
        // Waves of three seconds' worth at once, until one is refused: on a busy machine a wave may arrive slower than
        // the bucket refills, but a limiter that never refuses fails after ten.
        var statuses = new List<int>();
        for (var wave = 0; wave < 10 && !statuses.Contains(429); wave++)
            statuses.AddRange(await Task.WhenAll(Enumerable.Range(0, 3 * ProductNodeFixture.RequestsPerSecond).Select(async _ =>
                (await PostAsync(client, """{"request":"fly"}""")).Status)));
        statuses.ShouldContain(429);
        statuses.ShouldContain(400);

        using var other = Raw(10);
        (await PostAsync(other, """{"request":"fly"}""")).Status.ShouldBe(400);
    }

    [Fact]
    public async Task The_simulator_registers_and_reports_from_the_console_and_exits_with_meaningful_codes()
    {
        var state = Path.Combine(Path.GetTempPath(), $"ssm-product-{Guid.NewGuid():N}.json");
        try
        {
            var serial = NextSerial();
            var common = new[] { "--server", fixture.Server.ToString(), "--csc-root", fixture.Csc.RootPath };
            var (code, output) = await RunAsync(["register", .. common, "--token", fixture.Token.Secret, "--sn", serial, "--state", state]);
            code.ShouldBe(0, output);
            output.ShouldContain("Registered C9300-24T:" + serial);
            (code, output) = await RunAsync(["report", "--state", state, "--csc-root", fixture.Csc.RootPath, "--count", "2", "--report-id", "cli-1"]);
            code.ShouldBe(0, output);
            (code, output) = await RunAsync(["report", "--state", state, "--csc-root", fixture.Csc.RootPath, "--count", "2", "--report-id", "cli-1"]);
            code.ShouldBe(1, output);
            output.ShouldContain("REPORT_REPLAYED");
            (code, output) = await RunAsync(["register", .. common, "--token", "wrong", "--sn", NextSerial(), "--state", state + ".x"]);
            code.ShouldBe(1, output);
            output.ShouldContain("TOKEN_UNKNOWN");
            (code, output) = await RunAsync(["register", "--server", $"https://localhost:{fixture.HttpsPort}/", "--csc-root", fixture.Csc.RootPath,
                "--token", fixture.Token.Secret, "--sn", NextSerial(), "--state", state + ".y"]);
            code.ShouldBe(3, output);
            (code, output) = await RunAsync(["renew", "--state", state, "--csc-root", fixture.Csc.RootPath]);
            code.ShouldBe(0, output);
            (code, output) = await RunAsync(["deregister", "--state", state, "--csc-root", fixture.Csc.RootPath]);
            code.ShouldBe(0, output);
            File.Exists(state).ShouldBeFalse();
        }
        finally
        {
            File.Delete(state);
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(NodeProcess.ProductSimulatorAssemblyPath());
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
