using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ssm.Tests.Support;

namespace Ssm.Tests.Emulator;

/// <summary>The real `csc-emulator` process, spoken to over HTTPS as the node's CSC client would (docs/csc-api.md).</summary>
public sealed partial class CscEmulatorTests : IAsyncDisposable
{
    private const string DnaAdvantage = "regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40";
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ssm-test-csc-{Guid.NewGuid():N}");
    private readonly List<CscEmulatorProcess> _started = [];

    private async Task<CscEmulatorProcess> StartAsync(string approval = "auto", string tokenLifetime = "00:00:03", int? port = null)
    {
        var emulator = await CscEmulatorProcess.StartAsync(_data, approval, tokenLifetime, port);
        _started.Add(emulator);
        return emulator;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var emulator in _started)
            await emulator.DisposeAsync();
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }

    private static object Activation(string localAccountId, string name = "TEST") =>
        new { localAccountId, name, contactEmail = "ops@example.com", onPremServer = "ssm-cluster-1" };

    private static async Task<JsonElement> ActivateAsync(CscEmulatorProcess csc, string localAccountId, string name = "TEST", HttpStatusCode expected = HttpStatusCode.Created)
    {
        using var http = csc.Operator();
        var response = await http.PostAsJsonAsync("/csc/v1/activations", Activation(localAccountId, name));
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static HttpClient Bearer(CscEmulatorProcess csc, string token)
    {
        var http = csc.Client();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task ShouldBeProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? title = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, body);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        var problem = JsonDocument.Parse(body).RootElement;
        problem.GetProperty("code").GetString().ShouldBe(code);
        if (title is not null)
            problem.GetProperty("title").GetString().ShouldBe(title);
    }

    private static StringContent Ndjson(params string[] lines) => new(string.Join("\n", lines) + "\n", Encoding.UTF8, "application/x-ndjson");

    private static string Instance(string id) => $$"""{"kind":"instance","id":"{{id}}","pid":"C9300-24T","serial":"FOC{{id}}","name":"sw-{{id}}","seq":1}""";

    private static string Use(string id, int count) =>
        $$"""{"kind":"usage","id":"{{id}}","instanceId":"i1","tag":"{{DnaAdvantage}}","count":{{count}},"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","seq":2}""";

    private static async Task<JsonElement> UploadAsync(HttpClient http, string accountId, string batchId, StringContent body)
    {
        var response = await http.PostAsync($"/csc/v1/accounts/{accountId}/uploads/{batchId}", body);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<JsonElement> UsageAsync(HttpClient http, string accountId) =>
        JsonDocument.Parse(await http.GetStringAsync($"/csc/v1/accounts/{accountId}/usage")).RootElement.Clone();

    private static void ShouldBeUpload(JsonElement result, string batchId, int accepted, int duplicates)
    {
        result.GetProperty("batchId").GetString().ShouldBe(batchId);
        result.GetProperty("accepted").GetInt32().ShouldBe(accepted);
        result.GetProperty("duplicates").GetInt32().ShouldBe(duplicates);
    }

    private string[] CscVerb(CscEmulatorProcess csc, params string[] args) =>
        [.. args, "--csc", csc.BaseAddress.ToString(), "--csc-root", csc.RootPath];

    [Fact]
    public async Task Auto_approval_answers_with_a_token_and_asking_again_returns_the_same_request()
    {
        var csc = await StartAsync();
        var before = DateTime.UtcNow;

        var first = await ActivateAsync(csc, "local-1");
        first.GetProperty("status").GetString().ShouldBe("Approved");
        first.GetProperty("requestId").GetString()!.Length.ShouldBeGreaterThanOrEqualTo(32);
        first.GetProperty("accountId").GetString().ShouldNotBeNullOrEmpty();
        first.GetProperty("accessToken").GetString().ShouldNotBeNullOrEmpty();
        first.GetProperty("expiresAt").GetDateTime().ToUniversalTime().ShouldBeInRange(before.AddSeconds(2), DateTime.UtcNow.AddSeconds(4));

        var again = await ActivateAsync(csc, "local-1", expected: HttpStatusCode.OK);
        again.GetProperty("requestId").GetString().ShouldBe(first.GetProperty("requestId").GetString());
        again.GetProperty("accountId").GetString().ShouldBe(first.GetProperty("accountId").GetString());

        using var http = Bearer(csc, first.GetProperty("accessToken").GetString()!);
        var entitlements = JsonDocument.Parse(await http.GetStringAsync($"/csc/v1/accounts/{first.GetProperty("accountId").GetString()}/entitlements"))
            .RootElement.GetProperty("entitlements").EnumerateArray().ToList();
        entitlements.Count.ShouldBe(4);
        var dna = entitlements.Single(e => e.GetProperty("tag").GetString() == DnaAdvantage);
        dna.GetProperty("name").GetString().ShouldBe("DNA Advantage");
        dna.GetProperty("quantity").GetInt32().ShouldBe(100);
    }

    [Fact]
    public async Task Manual_approval_stays_pending_until_ssm_csc_approve()
    {
        var csc = await StartAsync(approval: "manual");
        var pending = await ActivateAsync(csc, "local-1");
        pending.GetProperty("status").GetString().ShouldBe("Pending");
        pending.GetProperty("accessToken").ValueKind.ShouldBe(JsonValueKind.Null);
        var requestId = pending.GetProperty("requestId").GetString()!;

        using var anonymous = csc.Client();
        var read = JsonDocument.Parse(await anonymous.GetStringAsync($"/csc/v1/activations/{requestId}")).RootElement;
        read.GetProperty("status").GetString().ShouldBe("Pending");
        using var admin = csc.Operator();
        var listed = JsonDocument.Parse(await admin.GetStringAsync("/csc/v1/admin/activations?status=Pending")).RootElement;
        listed.GetProperty("activations").EnumerateArray().Select(a => a.GetProperty("requestId").GetString()).ShouldBe([requestId]);

        var (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, CscVerb(csc, "approve", requestId));
        exit.ShouldBe(0, output);
        output.ShouldContain("approved");

        var approved = JsonDocument.Parse(await anonymous.GetStringAsync($"/csc/v1/activations/{requestId}")).RootElement;
        approved.GetProperty("status").GetString().ShouldBe("Approved");
        approved.GetProperty("accessToken").GetString().ShouldNotBeNullOrEmpty();
        approved.GetProperty("accountId").GetString().ShouldNotBeNullOrEmpty();

        (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, CscVerb(csc, "approve", "r-unknown"));
        exit.ShouldBe(1, output);
        output.ShouldContain("not_found");
    }

    [Fact]
    public async Task A_rejected_request_answers_403_account_rejected_with_the_reason()
    {
        var csc = await StartAsync(approval: "manual");
        var requestId = (await ActivateAsync(csc, "local-1")).GetProperty("requestId").GetString()!;

        var (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password,
            CscVerb(csc, "reject", requestId, "--reason", "No contract for <TEST>"));
        exit.ShouldBe(0, output);

        using var anonymous = csc.Client();
        await ShouldBeProblemAsync(await anonymous.GetAsync($"/csc/v1/activations/{requestId}"), HttpStatusCode.Forbidden, "account_rejected", "No contract for <TEST>");
        using var admin = csc.Operator();
        await ShouldBeProblemAsync(await admin.PostAsJsonAsync("/csc/v1/activations", Activation("local-1")), HttpStatusCode.Forbidden, "account_rejected", "No contract for <TEST>");
        // The name of a rejected request is free for another server.
        (await ActivateAsync(csc, "local-2")).GetProperty("status").GetString().ShouldBe("Pending");
    }

    [Fact]
    public async Task Wrong_operator_credentials_are_401_bad_credentials()
    {
        var csc = await StartAsync(approval: "manual");
        using var wrong = csc.Operator("not-the-password");
        await ShouldBeProblemAsync(await wrong.PostAsJsonAsync("/csc/v1/activations", Activation("local-1")), HttpStatusCode.Unauthorized, "bad_credentials");
        using var anonymous = csc.Client();
        await ShouldBeProblemAsync(await anonymous.PostAsJsonAsync("/csc/v1/activations", Activation("local-1")), HttpStatusCode.Unauthorized, "bad_credentials");
        await ShouldBeProblemAsync(await wrong.GetAsync("/csc/v1/admin/activations"), HttpStatusCode.Unauthorized, "bad_credentials");

        var requestId = (await ActivateAsync(csc, "local-1")).GetProperty("requestId").GetString()!;
        var (exit, output) = await CscEmulatorProcess.RunAsync("not-the-password", CscVerb(csc, "approve", requestId));
        exit.ShouldBe(1, output);
        output.ShouldContain("bad_credentials");
    }

    [Fact]
    public async Task The_verbs_refuse_bad_input_and_report_an_unreachable_emulator()
    {
        var (exit, output) = await CscEmulatorProcess.RunAsync(null, "--listen", "https://127.0.0.1:1", "--data", _data);
        exit.ShouldBe(2, output);
        output.ShouldContain("CSC_OPERATOR_PASSWORD");
        (exit, output) = await CscEmulatorProcess.RunAsync("pw", "--listen", "http://127.0.0.1:1", "--data", _data);
        exit.ShouldBe(2, output);
        (exit, output) = await CscEmulatorProcess.RunAsync("pw", "--token-lifetime", "soon", "--data", _data);
        exit.ShouldBe(2, output);

        var csc = await StartAsync();
        var root = csc.RootPath;
        await csc.KillAsync();
        (exit, output) = await CscEmulatorProcess.RunAsync("pw", "approve", "r-1", "--csc", csc.BaseAddress.ToString(), "--csc-root", root);
        exit.ShouldBe(3, output);
    }

    [Fact]
    public async Task An_account_name_activated_by_another_server_is_409_duplicate_account()
    {
        var csc = await StartAsync();
        await ActivateAsync(csc, "local-1", "Lab-West");
        using var http = csc.Operator();
        await ShouldBeProblemAsync(await http.PostAsJsonAsync("/csc/v1/activations", Activation("local-2", "LAB-WEST")), HttpStatusCode.Conflict, "duplicate_account");
    }

    [Fact]
    public async Task An_expired_token_is_401_token_expired_until_renewed_with_operator_credentials()
    {
        var csc = await StartAsync(tokenLifetime: "00:00:03");
        var activation = await ActivateAsync(csc, "local-1");
        var accountId = activation.GetProperty("accountId").GetString()!;
        var oldToken = activation.GetProperty("accessToken").GetString()!;
        var expiresAt = activation.GetProperty("expiresAt").GetDateTime().ToUniversalTime();
        var other = await ActivateAsync(csc, "local-2", "OTHER");

        using var withOther = Bearer(csc, other.GetProperty("accessToken").GetString()!);
        await ShouldBeProblemAsync(await withOther.GetAsync($"/csc/v1/accounts/{accountId}/entitlements"), HttpStatusCode.Unauthorized, "token_invalid");

        var wait = expiresAt - DateTime.UtcNow + TimeSpan.FromMilliseconds(300);
        if (wait > TimeSpan.Zero)
            await Task.Delay(wait);
        using var withOld = Bearer(csc, oldToken);
        await ShouldBeProblemAsync(await withOld.GetAsync($"/csc/v1/accounts/{accountId}/entitlements"), HttpStatusCode.Unauthorized, "token_expired");
        using var anonymous = csc.Client();
        var read = JsonDocument.Parse(await anonymous.GetStringAsync($"/csc/v1/activations/{activation.GetProperty("requestId").GetString()}")).RootElement;
        read.GetProperty("accessToken").ValueKind.ShouldBe(JsonValueKind.Null);

        using var wrong = csc.Operator("not-the-password");
        await ShouldBeProblemAsync(await wrong.PostAsync($"/csc/v1/accounts/{accountId}/token", null), HttpStatusCode.Unauthorized, "bad_credentials");
        using var admin = csc.Operator();
        var renewed = await admin.PostAsync($"/csc/v1/accounts/{accountId}/token", null);
        renewed.StatusCode.ShouldBe(HttpStatusCode.OK);
        var newToken = JsonDocument.Parse(await renewed.Content.ReadAsStringAsync()).RootElement.GetProperty("accessToken").GetString()!;
        newToken.ShouldNotBe(oldToken);

        using var withNew = Bearer(csc, newToken);
        (await withNew.GetAsync($"/csc/v1/accounts/{accountId}/entitlements")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await ShouldBeProblemAsync(await withOld.GetAsync($"/csc/v1/accounts/{accountId}/entitlements"), HttpStatusCode.Unauthorized, "token_invalid");
        await ShouldBeProblemAsync(await admin.PostAsync("/csc/v1/accounts/csc-unknown/token", null), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Each_item_is_counted_once_whatever_the_batches()
    {
        var csc = await StartAsync(tokenLifetime: "00:10:00");
        var activation = await ActivateAsync(csc, "local-1");
        var accountId = activation.GetProperty("accountId").GetString()!;
        using var http = Bearer(csc, activation.GetProperty("accessToken").GetString()!);

        ShouldBeUpload(await UploadAsync(http, accountId, "b1", Ndjson(Instance("i1"), Instance("i2"), Use("u1", 3), Use("u2", 2))), "b1", 4, 0);
        ShouldBeUpload(await UploadAsync(http, accountId, "b1", Ndjson(Instance("i1"), Instance("i2"), Use("u1", 3), Use("u2", 2))), "b1", 4, 0);
        // Two ids of b1, one id twice in the body, two new ones.
        ShouldBeUpload(await UploadAsync(http, accountId, "b2", Ndjson(Instance("i2"), Use("u2", 2), Instance("i3"), Use("u3", 5), Use("u3", 5))), "b2", 2, 3);

        var usage = await UsageAsync(http, accountId);
        usage.GetProperty("instances").GetInt64().ShouldBe(3);
        usage.GetProperty("usageRecords").GetInt64().ShouldBe(3);
        usage.GetProperty("usageByTag").GetProperty(DnaAdvantage).GetInt64().ShouldBe(10);
    }

    [Fact]
    public async Task State_survives_a_kill_and_restart()
    {
        var csc = await StartAsync(tokenLifetime: "00:10:00");
        var activation = await ActivateAsync(csc, "local-1");
        var accountId = activation.GetProperty("accountId").GetString()!;
        var token = activation.GetProperty("accessToken").GetString()!;
        var batch = Ndjson(Instance("i1"), Use("u1", 4));
        using (var http = Bearer(csc, token))
            ShouldBeUpload(await UploadAsync(http, accountId, "b1", batch), "b1", 2, 0);
        var thumbprint = csc.Root.Thumbprint;
        var port = csc.BaseAddress.Port;
        await csc.KillAsync();

        var restarted = await StartAsync(tokenLifetime: "00:10:00", port: port);
        restarted.Root.Thumbprint.ShouldBe(thumbprint);
        using var again = Bearer(restarted, token);
        (await again.GetAsync($"/csc/v1/accounts/{accountId}/entitlements")).StatusCode.ShouldBe(HttpStatusCode.OK);
        ShouldBeUpload(await UploadAsync(again, accountId, "b1", Ndjson(Instance("i1"), Use("u1", 4))), "b1", 2, 0);
        ShouldBeUpload(await UploadAsync(again, accountId, "b2", Ndjson(Instance("i1"), Use("u1", 4))), "b2", 0, 2);
        var usage = await UsageAsync(again, accountId);
        usage.GetProperty("instances").GetInt64().ShouldBe(1);
        usage.GetProperty("usageRecords").GetInt64().ShouldBe(1);
        usage.GetProperty("usageByTag").GetProperty(DnaAdvantage).GetInt64().ShouldBe(4);
        using var anonymous = restarted.Client();
        var read = JsonDocument.Parse(await anonymous.GetStringAsync($"/csc/v1/activations/{activation.GetProperty("requestId").GetString()}")).RootElement;
        read.GetProperty("accessToken").GetString().ShouldBe(token);
    }

    [Fact]
    public async Task Ids_logged_by_a_batch_that_never_committed_are_forgotten_on_restart()
    {
        var csc = await StartAsync(tokenLifetime: "00:10:00");
        var activation = await ActivateAsync(csc, "local-1");
        var accountId = activation.GetProperty("accountId").GetString()!;
        var token = activation.GetProperty("accessToken").GetString()!;
        using (var http = Bearer(csc, token))
            ShouldBeUpload(await UploadAsync(http, accountId, "b1", Ndjson(Instance("i1"))), "b1", 1, 0);
        await csc.KillAsync();
        // What a kill between appending the ids and writing state.json leaves behind.
        await File.AppendAllTextAsync(Path.Combine(_data, "received.log"), $"{accountId}/i2\n{accountId}/u2\n");

        var restarted = await StartAsync(tokenLifetime: "00:10:00");
        using var again = Bearer(restarted, token);
        ShouldBeUpload(await UploadAsync(again, accountId, "b2", Ndjson(Instance("i1"), Instance("i2"), Use("u2", 1))), "b2", 2, 1);
        (await UsageAsync(again, accountId)).GetProperty("instances").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task A_csr_is_signed_by_the_root_with_its_common_name_and_alternative_names()
    {
        var csc = await StartAsync(tokenLifetime: "00:10:00");
        var activation = await ActivateAsync(csc, "local-1");
        var accountId = activation.GetProperty("accountId").GetString()!;
        using var http = Bearer(csc, activation.GetProperty("accessToken").GetString()!);

        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=ssm.example.com, O=Lab", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("ssm.example.com");
        names.AddIpAddress(IPAddress.Parse("127.0.0.14"));
        request.CertificateExtensions.Add(names.Build());
        var csr = request.CreateSigningRequestPem();

        var response = await http.PostAsJsonAsync($"/csc/v1/accounts/{accountId}/certificates", new { csr });
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        var body = JsonDocument.Parse(text).RootElement;
        using var certificate = X509Certificate2.CreateFromPem(body.GetProperty("certificate").GetString()!);
        using var chainRoot = X509Certificate2.CreateFromPem(body.GetProperty("chain")[0].GetString()!);
        chainRoot.Thumbprint.ShouldBe(csc.Root.Thumbprint);

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(csc.Root);
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        chain.Build(certificate).ShouldBeTrue(string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));
        certificate.GetNameInfo(X509NameType.SimpleName, false).ShouldBe("ssm.example.com");
        var alternativeNames = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        alternativeNames.EnumerateDnsNames().ShouldBe(["ssm.example.com"]);
        alternativeNames.EnumerateIPAddresses().ShouldBe([IPAddress.Parse("127.0.0.14")]);
        certificate.MatchesHostname("127.0.0.14", allowCommonName: false).ShouldBeTrue();
        certificate.NotAfter.ShouldBeInRange(DateTime.Now.AddDays(364), DateTime.Now.AddDays(366));
        using var publicKey = certificate.GetRSAPublicKey()!;
        publicKey.ExportSubjectPublicKeyInfo().ShouldBe(key.ExportSubjectPublicKeyInfo());

        var der = request.CreateSigningRequest();
        der[^5] ^= 0xFF;
        var tampered = PemEncoding.WriteString("CERTIFICATE REQUEST", der);
        await ShouldBeProblemAsync(await http.PostAsJsonAsync($"/csc/v1/accounts/{accountId}/certificates", new { csr = tampered }), HttpStatusCode.BadRequest, "invalid_request");
        await ShouldBeProblemAsync(await http.PostAsJsonAsync($"/csc/v1/accounts/{accountId}/certificates", new { csr = "not a csr" }), HttpStatusCode.BadRequest, "invalid_request");
    }

    [Fact]
    public async Task Malformed_bodies_are_400_and_oversized_ones_413()
    {
        var csc = await StartAsync(tokenLifetime: "00:10:00");
        var activation = await ActivateAsync(csc, "local-1");
        var accountId = activation.GetProperty("accountId").GetString()!;
        using var admin = csc.Operator();
        using var http = Bearer(csc, activation.GetProperty("accessToken").GetString()!);

        await ShouldBeProblemAsync(await admin.PostAsync("/csc/v1/activations", new StringContent("{\"localAccountId\": ", Encoding.UTF8, "application/json")),
            HttpStatusCode.BadRequest, "invalid_request");
        await ShouldBeProblemAsync(await admin.PostAsJsonAsync("/csc/v1/activations", new { localAccountId = "x", name = "N" }),
            HttpStatusCode.BadRequest, "invalid_request", "contactEmail: missing");
        var broken = await http.PostAsync($"/csc/v1/accounts/{accountId}/uploads/b1", Ndjson(Instance("i1"), "{\"kind\":\"instance\","));
        await ShouldBeProblemAsync(broken, HttpStatusCode.BadRequest, "invalid_request");
        // Nothing of a refused batch is counted.
        ShouldBeUpload(await UploadAsync(http, accountId, "b1", Ndjson(Instance("i1"))), "b1", 1, 0);

        var big = new HttpRequestMessage(HttpMethod.Post, "/csc/v1/activations") { Content = new FillerContent(2L * 1024 * 1024, (byte)' ') };
        big.Headers.ExpectContinue = true;
        await ShouldBeProblemAsync(await admin.SendAsync(big), HttpStatusCode.RequestEntityTooLarge, "too_large");
        var huge = new HttpRequestMessage(HttpMethod.Post, $"/csc/v1/accounts/{accountId}/uploads/b2") { Content = new FillerContent(65L * 1024 * 1024, (byte)'\n') };
        huge.Headers.ExpectContinue = true;
        await ShouldBeProblemAsync(await http.SendAsync(huge), HttpStatusCode.RequestEntityTooLarge, "too_large");
    }

    [Fact]
    public async Task The_operator_page_lists_requests_encoded_and_its_buttons_approve()
    {
        var csc = await StartAsync(approval: "manual");
        var requestId = (await ActivateAsync(csc, "local-1", "<b>Lab</b>")).GetProperty("requestId").GetString()!;

        using var anonymous = csc.Client();
        var refused = await anonymous.GetAsync("/");
        refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        refused.Headers.WwwAuthenticate.ToString().ShouldStartWith("Basic");

        using var admin = csc.Operator(followRedirects: false);
        var page = await admin.GetStringAsync("/");
        page.ShouldContain(requestId);
        page.ShouldContain("&lt;b&gt;Lab&lt;/b&gt;");
        page.ShouldNotContain("<b>Lab</b>");
        var formToken = FormToken().Match(page).Groups[1].Value;

        var forged = await admin.PostAsync("/page/approve", new FormUrlEncodedContent(new Dictionary<string, string> { ["requestId"] = requestId, ["formToken"] = "guess" }));
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var posted = await admin.PostAsync("/page/approve", new FormUrlEncodedContent(new Dictionary<string, string> { ["requestId"] = requestId, ["formToken"] = formToken }));
        posted.StatusCode.ShouldBe(HttpStatusCode.Redirect, await posted.Content.ReadAsStringAsync());
        posted.Headers.Location!.ToString().ShouldBe("/");
        var read = JsonDocument.Parse(await anonymous.GetStringAsync($"/csc/v1/activations/{requestId}")).RootElement;
        read.GetProperty("status").GetString().ShouldBe("Approved");
    }

    [GeneratedRegex("name=\"formToken\" value=\"([0-9a-f]+)\"")]
    private static partial Regex FormToken();
}
