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

/// <summary>`POST /csc/v1/offline` and `csc-emulator offline` of the real `csc-emulator` process, over HTTPS (docs/csc-api.md).</summary>
public sealed partial class CscOfflineTests : IAsyncDisposable
{
    private const string DnaAdvantage = "regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40";
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ssm-test-csc-{Guid.NewGuid():N}");
    private readonly string _files = Path.Combine(Path.GetTempPath(), $"ssm-test-offline-{Guid.NewGuid():N}");
    private readonly List<CscEmulatorProcess> _started = [];

    private async Task<CscEmulatorProcess> StartAsync(string approval = "auto")
    {
        var emulator = await CscEmulatorProcess.StartAsync(_data, approval, tokenLifetime: "00:10:00");
        _started.Add(emulator);
        return emulator;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var emulator in _started)
            await emulator.DisposeAsync();
        foreach (var folder in new[] { _data, _files })
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
    }

    private static string RequestFile(object[] accounts, string? csr = null, string requestId = "o-1") =>
        JsonSerializer.Serialize(new
        {
            format = "ssm-offline-request/1",
            requestId,
            createdAt = DateTime.UtcNow,
            onPremServer = "ssm-cluster-1",
            accounts,
            csr,
        });

    private static object NewAccount(string localAccountId, string name = "TEST", object? batch = null) =>
        new { localAccountId, name, contactEmail = "ops@example.com", accountId = (string?)null, batch };

    private static object KnownAccount(string localAccountId, string accountId, object? batch = null) =>
        new { localAccountId, name = "TEST", contactEmail = "ops@example.com", accountId, batch };

    private static object Batch(string batchId, params object[] items) => new { batchId, items };

    private static object Instance(string id) => new { kind = "instance", id, pid = "C9300-24T", serial = "FOC" + id, name = "sw-" + id, seq = 1 };

    private static object Use(string id, int count) =>
        new { kind = "usage", id, instanceId = "i1", tag = DnaAdvantage, count, from = "2026-01-01T00:00:00Z", to = "2026-01-02T00:00:00Z", seq = 2 };

    private static async Task<JsonElement> PostAsync(CscEmulatorProcess csc, string requestFile)
    {
        using var http = csc.Operator();
        var response = await http.PostAsync("/csc/v1/offline", new StringContent(requestFile, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        var body = JsonDocument.Parse(text).RootElement.Clone();
        body.GetProperty("format").GetString().ShouldBe("ssm-offline-response/1");
        return body;
    }

    private static async Task<JsonElement> ActivateOnlineAsync(CscEmulatorProcess csc, string localAccountId)
    {
        using var http = csc.Operator();
        var response = await http.PostAsJsonAsync("/csc/v1/activations",
            new { localAccountId, name = "TEST", contactEmail = "ops@example.com", onPremServer = "ssm-cluster-1" });
        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static HttpClient Bearer(CscEmulatorProcess csc, string token)
    {
        var http = csc.Client();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task<JsonElement> UsageAsync(CscEmulatorProcess csc, JsonElement account)
    {
        using var http = Bearer(csc, account.GetProperty("accessToken").GetString()!);
        return JsonDocument.Parse(await http.GetStringAsync($"/csc/v1/accounts/{account.GetProperty("accountId").GetString()}/usage")).RootElement.Clone();
    }

    private static void ShouldBeBatch(JsonElement account, string batchId, int accepted, int duplicates)
    {
        var batch = account.GetProperty("batch");
        batch.GetProperty("batchId").GetString().ShouldBe(batchId);
        batch.GetProperty("accepted").GetInt32().ShouldBe(accepted);
        batch.GetProperty("duplicates").GetInt32().ShouldBe(duplicates);
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

    [Fact]
    public async Task A_new_account_in_the_file_is_approved_with_a_token_and_its_entitlements()
    {
        var csc = await StartAsync();
        var before = DateTime.UtcNow;

        var response = await PostAsync(csc, RequestFile([NewAccount("local-1")], requestId: "o-first"));
        response.GetProperty("requestId").GetString().ShouldBe("o-first");
        response.GetProperty("certificate").ValueKind.ShouldBe(JsonValueKind.Null);
        var account = response.GetProperty("accounts").EnumerateArray().Single();
        account.GetProperty("localAccountId").GetString().ShouldBe("local-1");
        account.GetProperty("status").GetString().ShouldBe("Approved");
        account.GetProperty("accountId").GetString()!.ShouldStartWith("csc-");
        account.GetProperty("expiresAt").GetDateTime().ToUniversalTime().ShouldBeInRange(before.AddMinutes(9), DateTime.UtcNow.AddMinutes(11));
        account.GetProperty("batch").ValueKind.ShouldBe(JsonValueKind.Null);
        var entitlements = account.GetProperty("entitlements").EnumerateArray().ToList();
        entitlements.Count.ShouldBe(4);
        entitlements.Single(e => e.GetProperty("tag").GetString() == DnaAdvantage).GetProperty("quantity").GetInt32().ShouldBe(100);

        // The token also opens the online calls, and the activation is the one POST /activations would have made.
        using var http = Bearer(csc, account.GetProperty("accessToken").GetString()!);
        (await http.GetAsync($"/csc/v1/accounts/{account.GetProperty("accountId").GetString()}/entitlements")).StatusCode.ShouldBe(HttpStatusCode.OK);
        using var admin = csc.Operator();
        var listed = JsonDocument.Parse(await admin.GetStringAsync("/csc/v1/admin/activations")).RootElement.GetProperty("activations").EnumerateArray().Single();
        listed.GetProperty("accountId").GetString().ShouldBe(account.GetProperty("accountId").GetString());
        listed.GetProperty("onPremServer").GetString().ShouldBe("ssm-cluster-1");
    }

    [Fact]
    public async Task A_batch_of_a_known_account_is_counted_and_the_same_file_again_counts_nothing_twice()
    {
        var csc = await StartAsync();
        var online = await ActivateOnlineAsync(csc, "local-1");
        var accountId = online.GetProperty("accountId").GetString()!;
        var file = RequestFile([KnownAccount("local-1", accountId, Batch("b-1", Instance("i1"), Instance("i2"), Use("u1", 3), Use("u2", 2), Use("u2", 2)))]);

        var first = (await PostAsync(csc, file)).GetProperty("accounts")[0];
        first.GetProperty("status").GetString().ShouldBe("Approved");
        first.GetProperty("accountId").GetString().ShouldBe(accountId);
        ShouldBeBatch(first, "b-1", 4, 1);
        // A fresh token: it replaces the one handed out online.
        first.GetProperty("accessToken").GetString().ShouldNotBe(online.GetProperty("accessToken").GetString());
        using (var old = Bearer(csc, online.GetProperty("accessToken").GetString()!))
            await ShouldBeProblemAsync(await old.GetAsync($"/csc/v1/accounts/{accountId}/usage"), HttpStatusCode.Unauthorized, "token_invalid");

        var again = (await PostAsync(csc, file)).GetProperty("accounts")[0];
        ShouldBeBatch(again, "b-1", 4, 1);
        var usage = await UsageAsync(csc, again);
        usage.GetProperty("instances").GetInt64().ShouldBe(2);
        usage.GetProperty("usageRecords").GetInt64().ShouldBe(2);
        usage.GetProperty("usageByTag").GetProperty(DnaAdvantage).GetInt64().ShouldBe(5);

        // The same idempotency as online uploads: a batch id answers its first result, items counted before are duplicates.
        using var http = Bearer(csc, again.GetProperty("accessToken").GetString()!);
        var online1 = await http.PostAsync($"/csc/v1/accounts/{accountId}/uploads/b-1", new StringContent("", Encoding.UTF8, "application/x-ndjson"));
        JsonDocument.Parse(await online1.Content.ReadAsStringAsync()).RootElement.GetProperty("accepted").GetInt32().ShouldBe(4);
        var next = (await PostAsync(csc, RequestFile([KnownAccount("local-1", accountId, Batch("b-2", Instance("i2"), Use("u3", 7)))])))
            .GetProperty("accounts")[0];
        ShouldBeBatch(next, "b-2", 1, 1);
        (await UsageAsync(csc, next)).GetProperty("usageByTag").GetProperty(DnaAdvantage).GetInt64().ShouldBe(12);
    }

    [Fact]
    public async Task A_pending_account_gets_no_counts_nor_certificate_until_approved()
    {
        var csc = await StartAsync(approval: "manual");
        var (key, csr) = Csr("ssm.example.com");
        using var disposeKey = key;
        var file = RequestFile([NewAccount("local-1", batch: Batch("b-1", Instance("i1")))], csr);

        var pending = await PostAsync(csc, file);
        var account = pending.GetProperty("accounts")[0];
        account.GetProperty("status").GetString().ShouldBe("Pending");
        account.GetProperty("accessToken").ValueKind.ShouldBe(JsonValueKind.Null);
        account.GetProperty("batch").ValueKind.ShouldBe(JsonValueKind.Null);
        account.GetProperty("entitlements").GetArrayLength().ShouldBe(0);
        pending.GetProperty("certificate").ValueKind.ShouldBe(JsonValueKind.Null);

        using var admin = csc.Operator();
        var requestId = JsonDocument.Parse(await admin.GetStringAsync("/csc/v1/admin/activations")).RootElement
            .GetProperty("activations")[0].GetProperty("requestId").GetString()!;
        (await admin.PostAsync($"/csc/v1/admin/activations/{requestId}/approve", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var approved = await PostAsync(csc, file);
        account = approved.GetProperty("accounts")[0];
        account.GetProperty("status").GetString().ShouldBe("Approved");
        ShouldBeBatch(account, "b-1", 1, 0);
        approved.GetProperty("certificate").ValueKind.ShouldBe(JsonValueKind.Object);
    }

    [Fact]
    public async Task A_csr_in_the_file_is_signed_by_the_root()
    {
        var csc = await StartAsync();
        var (key, csr) = Csr("ssm.example.com");
        using (key)
        {
            var response = await PostAsync(csc, RequestFile([NewAccount("local-1")], csr));

            var signed = response.GetProperty("certificate");
            using var certificate = X509Certificate2.CreateFromPem(signed.GetProperty("certificate").GetString()!);
            using var chainRoot = X509Certificate2.CreateFromPem(signed.GetProperty("chain")[0].GetString()!);
            chainRoot.Thumbprint.ShouldBe(csc.Root.Thumbprint);
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.CustomTrustStore.Add(csc.Root);
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
            chain.Build(certificate).ShouldBeTrue(string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));
            certificate.GetNameInfo(X509NameType.SimpleName, false).ShouldBe("ssm.example.com");
            using var publicKey = certificate.GetECDsaPublicKey()!;
            publicKey.ExportSubjectPublicKeyInfo().ShouldBe(key.ExportSubjectPublicKeyInfo());
        }
    }

    [Fact]
    public async Task A_malformed_file_is_400_naming_what_is_wrong_and_nothing_of_it_is_counted()
    {
        var csc = await StartAsync();
        var online = await ActivateOnlineAsync(csc, "local-1");
        var accountId = online.GetProperty("accountId").GetString()!;
        using var admin = csc.Operator();

        async Task RefusedAsync(string file, string title) =>
            await ShouldBeProblemAsync(await admin.PostAsync("/csc/v1/offline", new StringContent(file, Encoding.UTF8, "application/json")),
                HttpStatusCode.BadRequest, "invalid_request", title);

        // A valid new account first, a bad item in the second: neither the activation nor the batch happens.
        var badItem = new { kind = "usage", id = "u2", count = 1 };
        await RefusedAsync(RequestFile([NewAccount("local-2", "OTHER"), KnownAccount("local-1", accountId, Batch("b-1", Instance("i1"), badItem))]),
            "accounts[1].batch.items[1]: tag missing");
        await RefusedAsync(RequestFile([KnownAccount("local-1", accountId, Batch("b-1", Instance("i1")))]).Replace("ssm-offline-request/1", "ssm-offline-request/9"),
            "format: \"ssm-offline-request/1\" expected");
        await RefusedAsync(RequestFile([KnownAccount("local-9", accountId, Batch("b-1", Instance("i1")))]),
            $"accounts[0].accountId: account {accountId} belongs to another localAccountId");
        await RefusedAsync(RequestFile([NewAccount("local-2", "OTHER", Batch("b 1", Instance("i1")))]), "accounts[0].batch.batchId: 1 to 200 visible characters");
        await RefusedAsync(RequestFile([new { localAccountId = "local-2", name = "OTHER" }]), "accounts[0].contactEmail: missing");
        (await TitleOfAsync(admin, RequestFile([NewAccount("local-2", "OTHER")], csr: "not a csr"))).ShouldStartWith("csr: not a valid PEM");
        (await TitleOfAsync(admin, "{\"format\":")).ShouldStartWith("request file: malformed JSON");

        var listed = JsonDocument.Parse(await admin.GetStringAsync("/csc/v1/admin/activations")).RootElement.GetProperty("activations");
        listed.GetArrayLength().ShouldBe(1);
        var usage = await UsageAsync(csc, online);
        usage.GetProperty("instances").GetInt64().ShouldBe(0);
        usage.GetProperty("usageRecords").GetInt64().ShouldBe(0);

        // The batch id stayed unused: the corrected file counts it.
        var corrected = await PostAsync(csc, RequestFile([KnownAccount("local-1", accountId, Batch("b-1", Instance("i1"), Use("u2", 1)))]));
        ShouldBeBatch(corrected.GetProperty("accounts")[0], "b-1", 2, 0);

        var huge = new HttpRequestMessage(HttpMethod.Post, "/csc/v1/offline") { Content = new FillerContent(65L * 1024 * 1024, (byte)' ') };
        huge.Headers.ExpectContinue = true;
        await ShouldBeProblemAsync(await admin.SendAsync(huge), HttpStatusCode.RequestEntityTooLarge, "too_large");
    }

    private static async Task<string> TitleOfAsync(HttpClient admin, string file)
    {
        var response = await admin.PostAsync("/csc/v1/offline", new StringContent(file, Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("title").GetString()!;
    }

    [Fact]
    public async Task Wrong_operator_credentials_are_401_bad_credentials()
    {
        var csc = await StartAsync();
        using var wrong = csc.Operator("not-the-password");
        var file = RequestFile([NewAccount("local-1")]);
        await ShouldBeProblemAsync(await wrong.PostAsync("/csc/v1/offline", new StringContent(file, Encoding.UTF8, "application/json")),
            HttpStatusCode.Unauthorized, "bad_credentials");
        using var admin = csc.Operator();
        JsonDocument.Parse(await admin.GetStringAsync("/csc/v1/admin/activations")).RootElement.GetProperty("activations").GetArrayLength().ShouldBe(0);

        Directory.CreateDirectory(_files);
        var request = Path.Combine(_files, "request.json");
        await File.WriteAllTextAsync(request, file);
        var (exit, output) = await CscEmulatorProcess.RunAsync("not-the-password", Verb(csc, request, Path.Combine(_files, "response.json")));
        exit.ShouldBe(1, output);
        output.ShouldContain("bad_credentials");
        File.Exists(Path.Combine(_files, "response.json")).ShouldBeFalse();
    }

    [Fact]
    public async Task Ssm_csc_offline_writes_the_response_file_and_a_summary()
    {
        var csc = await StartAsync();
        Directory.CreateDirectory(_files);
        var request = Path.Combine(_files, "request.json");
        var response = Path.Combine(_files, "response.json");
        await File.WriteAllTextAsync(request, RequestFile([NewAccount("local-1", "Lab-West", Batch("b-1", Instance("i1"), Use("u1", 2)))], requestId: "o-verb"));

        var (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, Verb(csc, request, response));
        exit.ShouldBe(0, output);
        output.ShouldContain("Offline request o-verb: Lab-West Approved; items 2 accepted, 0 duplicates; certificate signed: no");
        var written = JsonDocument.Parse(await File.ReadAllTextAsync(response)).RootElement;
        written.GetProperty("format").GetString().ShouldBe("ssm-offline-response/1");
        written.GetProperty("requestId").GetString().ShouldBe("o-verb");
        var account = written.GetProperty("accounts")[0];
        ShouldBeBatch(account, "b-1", 2, 0);
        (await UsageAsync(csc, account)).GetProperty("usageByTag").GetProperty(DnaAdvantage).GetInt64().ShouldBe(2);
        if (!OperatingSystem.IsWindows())
            File.GetUnixFileMode(response).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);

        // The same file again: the batch answers its first result and nothing is counted twice.
        (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, Verb(csc, request, response));
        exit.ShouldBe(0, output);
        account = JsonDocument.Parse(await File.ReadAllTextAsync(response)).RootElement.GetProperty("accounts")[0];
        ShouldBeBatch(account, "b-1", 2, 0);
        (await UsageAsync(csc, account)).GetProperty("usageByTag").GetProperty(DnaAdvantage).GetInt64().ShouldBe(2);

        (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, Verb(csc, Path.Combine(_files, "missing.json"), response));
        exit.ShouldBe(2, output);
        (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, Verb(csc, request, Path.Combine(_files, "no-such-folder", "r.json")));
        exit.ShouldBe(2, output);
        var root = csc.RootPath;
        await csc.KillAsync();
        (exit, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, Verb(csc, request, response, root));
        exit.ShouldBe(3, output);
    }

    [Fact]
    public async Task The_operator_page_answers_an_uploaded_request_file_with_the_response_file()
    {
        var csc = await StartAsync();
        using var admin = csc.Operator(followRedirects: false);
        var page = await admin.GetStringAsync("/");
        var formToken = FormToken().Match(page).Groups[1].Value;
        formToken.ShouldNotBeEmpty();

        MultipartFormDataContent Form(string token)
        {
            var form = new MultipartFormDataContent { { new StringContent(token), "formToken" } };
            var file = new StringContent(RequestFile([NewAccount("local-1", batch: Batch("b-1", Instance("i1")))]), Encoding.UTF8, "application/json");
            form.Add(file, "request", "request.json");
            return form;
        }

        (await admin.PostAsync("/page/offline", Form("guess"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var posted = await admin.PostAsync("/page/offline", Form(formToken));
        var text = await posted.Content.ReadAsStringAsync();
        posted.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        posted.Content.Headers.ContentDisposition!.FileName!.Trim('"').ShouldBe("ssm-offline-response.json");
        var account = JsonDocument.Parse(text).RootElement.GetProperty("accounts")[0];
        ShouldBeBatch(account, "b-1", 1, 0);
    }

    private static string[] Verb(CscEmulatorProcess csc, string request, string response, string? root = null) =>
        ["offline", "--request", request, "--out", response, "--csc", csc.BaseAddress.ToString(), "--csc-root", root ?? csc.RootPath];

    private static (ECDsa Key, string Pem) Csr(string commonName)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(commonName);
        request.CertificateExtensions.Add(names.Build());
        return (key, request.CreateSigningRequestPem());
    }

    [GeneratedRegex("name=\"formToken\" value=\"([0-9a-f]+)\"")]
    private static partial Regex FormToken();
}
