using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Ssm.Application.Api;
using System.Security.Cryptography.X509Certificates;
using Ssm.Domain.Products;
using Ssm.Tests.Support;
using Ssm.Web.Endpoints;
using Ssm.ProductSimulator;

namespace Ssm.Tests.Node;

/// <summary>
/// Thousands of random and mutated bodies against Smart Transport and the API toolkit: never a 5xx, always a
/// JSON answer, and the database exactly as before. The seeds are requests that would pass every check but
/// the last one (a revoked token, an expired ID certificate, a wrong client secret), so that mutations reach
/// deep into parsing and validation without ever being allowed to write.
/// </summary>
[Collection(ProductNodeCollection.Name)]
public sealed class FuzzTests(ProductNodeFixture fixture)
{
    private const int Requests = 3000;
    private const int Sources = 40;

    [Fact]
    public async Task Random_and_mutated_bodies_never_cause_a_server_error_or_a_write()
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        using var setup = fixture.Product(200);
        var expired = await setup.RegisterAsync(fixture.Token.Secret, "C9300-24T", $"FUZZ{seed & 0xFFFF:X4}", "fuzz");
        await ExpireAsync(expired.InstanceId);
        var revoked = await OperatorApi.CreateTokenAsync(fixture.Admin, fixture.Account.Id);
        (await fixture.Admin.PostAsync($"/api/registration-tokens/{revoked.Token.Id}/revoke", null)).EnsureSuccessStatusCode();
        var client = await (await fixture.Admin.PostAsJsonAsync($"/api/accounts/{fixture.Account.Id}/api-clients", new { name = "fuzz" }))
            .Content.ReadFromJsonAsync<CreatedApiClient>(TestCluster.Json);
        var bearer = await TokenAsync(client!.Client.ClientId, client.Secret);
        var before = await fixture.FingerprintAsync();

        var seeds = Seeds(revoked.Secret, client.Client.ClientId);
        var key = ECDsa.Create();
        key.ImportFromPem(expired.PrivateKeyPem);
        var clients = Enumerable.Range(0, Sources).Select(Raw).ToArray();
        var failures = new List<string>();
        var statuses = new Dictionary<int, int>();
        var plans = Enumerable.Range(0, Requests).Select(i => (Index: i, Target: seeds[random.Next(seeds.Count)], Body: default(byte[])!)).ToList();
        for (var i = 0; i < plans.Count; i++)
            plans[i] = plans[i] with { Body = Mutate(random, plans[i].Target.Body) };

        await Parallel.ForEachAsync(plans, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (plan, cancellationToken) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, plan.Target.Path) { Content = new ByteArrayContent(plan.Body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            if (plan.Target.Signed)
            {
                var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                request.Headers.Add(SmartTransportEndpoints.InstanceHeader, expired.InstanceId.ToString());
                request.Headers.Add(SmartTransportEndpoints.TimestampHeader, now.ToString());
                request.Headers.Add(SmartTransportEndpoints.SignatureHeader, RequestSignature.Sign(key, now, ProductNodeFixture.HostName, plan.Body));
            }
            if (plan.Target.Bearer)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", plan.Index % 7 == 0 ? Convert.ToBase64String(plan.Body[..Math.Min(40, plan.Body.Length)]) : bearer);
            using var response = await clients[plan.Index % Sources].SendAsync(request, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var status = (int)response.StatusCode;
            lock (statuses)
            {
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                if (status >= 500 || !IsJson(text))
                    failures.Add($"{status} {plan.Target.Path} body {Convert.ToBase64String(plan.Body[..Math.Min(300, plan.Body.Length)])}: {text[..Math.Min(300, text.Length)]}");
            }
        });

        failures.ShouldBeEmpty($"seed {seed}; statuses {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}x{s.Value}"))}");
        statuses.Keys.ShouldContain(400);
        (await fixture.FingerprintAsync()).ShouldBe(before, $"seed {seed}");
        foreach (var c in clients)
            c.Dispose();
    }

    private sealed record Target(string Path, byte[] Body, bool Signed = false, bool Bearer = false);

    private static List<Target> Seeds(string revokedToken, string clientId)
    {
        using var productKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=fuzz", productKey, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var now = DateTimeOffset.UtcNow;
        byte[] Json(object body) => JsonSerializer.SerializeToUtf8Bytes(body, SmartTransportEndpoints.Json);
        var report = new { reportId = "r-1", tag = "regid.2017-07.com.cisco.DNA_Advantage", count = 3, from = now.AddHours(-1), to = now };
        return
        [
            new(SmartTransportEndpoints.Path, Json(new { request = "register", token = revokedToken, udi = new { pid = "C9300-24T", sn = "FOC1" },
                productName = "sw", productType = "switch", hostName = "sw", csr, exportControlled = false, force = true })),
            new(SmartTransportEndpoints.CallHomePath, Json(new { request = "register", token = revokedToken, udi = new { pid = "C9300-24T", sn = "FOC2" },
                publicKey = productKey.ExportSubjectPublicKeyInfoPem() })),
            new(SmartTransportEndpoints.Path, Json(new { request = "report", reports = new[] { report, report with { reportId = "r-2" } } }), Signed: true),
            new(SmartTransportEndpoints.Path, Json(new { request = "authorize", entitlements = new[] { new { tag = "regid.x", count = 2 } } }), Signed: true),
            new(SmartTransportEndpoints.Path, Json(new { request = "renew", csr }), Signed: true),
            new(SmartTransportEndpoints.Path, Json(new { request = "deregister" }), Signed: true),
            new("/backend/oauth/token", Json(new { grant_type = "client_credentials", client_id = clientId, client_secret = "wrong-secret" })),
            new("/api/v1/accounts/Products/licenses", Json(new { limit = -1 }), Bearer: true),
            new("/api/v1/accounts/Products/alerts", Json(new { limit = 5 }), Bearer: true),
            new("/api/v1/accounts/Products/virtual-accounts/DEFAULT/licenses", Json(new { limit = -1 }), Bearer: true),
            new("/api/v1/accounts/Products/virtual-accounts/DEFAULT/alerts", Json(new { limit = 2 }), Bearer: true),
        ];
    }

    private static readonly string[] Oddities =
    [
        "null", "true", "-1", "0", "1e309", "99999999999999999999", "\"\"", "[]", "{}", "[[[[[[[[[[]]]]]]]]]]", "\"\\u0000\"",
        "\"" + new string('A', 5000) + "\"", "\"2026-13-45T99:00:00Z\"", "\"ünïcødé ✓ 🚀\"", "{\"$ref\":\"#\"}", "-0.0", "\"<script>\"",
    ];

    /// <summary>Structure-aware changes (a value replaced by an oddity, a field dropped) or raw byte damage, sometimes several.</summary>
    private static byte[] Mutate(Random random, byte[] seed)
    {
        var body = seed;
        for (var round = 0; round < 1 + random.Next(3); round++)
            body = random.Next(10) switch
            {
                < 5 => TryMutateJson(random, body) ?? Bytes(random, body),
                < 9 => Bytes(random, body),
                _ => Encoding.UTF8.GetBytes(Oddities[random.Next(Oddities.Length)]),
            };
        return body;
    }

    private static byte[]? TryMutateJson(Random random, byte[] body)
    {
        try
        {
            return MutateJson(random, body);
        }
        catch (InvalidOperationException)
        {
            return null; // bytes that are not UTF-8: damage them further byte by byte
        }
        catch (ArgumentException)
        {
            return null; // an object with a key twice (earlier damage made one): JsonObject cannot walk it, the bytes go as they are
        }
    }

    private static byte[]? MutateJson(Random random, byte[] body)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(body);
            root?.ToJsonString();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
        var containers = new List<JsonNode>();
        void Walk(JsonNode? node)
        {
            if (node is JsonObject or JsonArray)
                containers.Add(node);
            if (node is JsonObject o)
                foreach (var (_, child) in o)
                    Walk(child);
            else if (node is JsonArray a)
                foreach (var child in a)
                    Walk(child);
        }
        Walk(root);
        if (containers.Count == 0)
            return null;
        var target = containers[random.Next(containers.Count)];
        var pick = Oddities[random.Next(Oddities.Length)];
        var oddity = JsonNode.Parse(pick == "1e309" ? "1e308" : pick);
        switch (target)
        {
            case JsonObject o when o.Count > 0:
                var name = o.ElementAt(random.Next(o.Count)).Key;
                if (random.Next(4) == 0)
                    o.Remove(name);
                else
                    o[name] = oddity;
                break;
            case JsonArray a when a.Count > 0:
                var index = random.Next(a.Count);
                if (random.Next(3) == 0)
                    a.Add(a[index]?.DeepClone());
                else
                    a[index] = oddity;
                break;
            default:
                return null;
        }
        return Encoding.UTF8.GetBytes(root!.ToJsonString());
    }

    private static byte[] Bytes(Random random, byte[] body)
    {
        var bytes = body.ToList();
        switch (random.Next(5))
        {
            case 0 when bytes.Count > 0:
                bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                break;
            case 1:
                bytes.InsertRange(random.Next(bytes.Count + 1), Enumerable.Range(0, 1 + random.Next(8)).Select(_ => (byte)random.Next(256)));
                break;
            case 2 when bytes.Count > 1:
                var start = random.Next(bytes.Count);
                bytes.RemoveRange(start, random.Next(1, Math.Min(20, bytes.Count - start) + 1));
                break;
            case 3:
                bytes = bytes.Take(random.Next(bytes.Count + 1)).ToList();
                break;
            default:
                bytes.AddRange(bytes.Take(random.Next(bytes.Count + 1)).ToList());
                break;
        }
        return [.. bytes];
    }

    private static bool IsJson(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private HttpClient Raw(int source) => fixture.Raw(IPAddress.Parse($"127.0.98.{source + 1}"));

    private async Task<string> TokenAsync(string clientId, string secret)
    {
        using var http = Raw(Sources + 1);
        var response = await http.PostAsJsonAsync("/backend/oauth/token", new { grant_type = "client_credentials", client_id = clientId, client_secret = secret });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    private async Task ExpireAsync(Guid instanceId)
    {
        await using var connection = new NpgsqlConnection(fixture.Node.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"update ssm.mt_doc_productinstance set data = jsonb_set(data, '{{{ProductInstance.Keys.CertificateNotAfter}}}', to_jsonb(@at::text)) where id = @id", connection);
        command.Parameters.AddWithValue("at", DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O"));
        command.Parameters.AddWithValue("id", instanceId);
        (await command.ExecuteNonQueryAsync()).ShouldBe(1);
    }
}
