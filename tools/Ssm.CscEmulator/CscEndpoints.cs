using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace Ssm.CscEmulator;

public sealed record ActivationBody(string? LocalAccountId, string? Name, string? ContactEmail, string? OnPremServer);

public sealed record ActivationView(string RequestId, ActivationStatus Status, string? AccountId, string? AccessToken, DateTime? ExpiresAt, string? Reason);

public sealed record AdminActivationView(string RequestId, ActivationStatus Status, string LocalAccountId, string Name, string ContactEmail,
    string OnPremServer, string? AccountId, string? Reason, DateTime CreatedAt, DateTime? DecidedAt)
{
    public static AdminActivationView Of(ActivationRequest r) =>
        new(r.RequestId, r.Status, r.LocalAccountId, r.Name, r.ContactEmail, r.OnPremServer, r.AccountId, r.Reason, r.CreatedAt, r.DecidedAt);
}

public sealed record AdminActivationList(IReadOnlyList<AdminActivationView> Activations);

public sealed record RejectBody(string? Reason);

public sealed record TokenView(string AccessToken, DateTime ExpiresAt);

public sealed record UsageView(long Instances, long UsageRecords, IReadOnlyDictionary<string, long> UsageByTag);

public sealed record CertificateBody(string? Csr);

public sealed record CertificateView(string Certificate, IReadOnlyList<string> Chain);

public sealed record UploadLine(string? Kind, string? Id, string? Tag, long? Count);



/// <summary>The calls of docs/csc-api.md.</summary>
public static class CscEndpoints
{
    private const int MaxLineBytes = 1024 * 1024;

    public static void Map(WebApplication app)
    {
        var csc = app.MapGroup("/csc/v1");
        csc.MapPost("/activations", Activate);
        csc.MapGet("/activations/{requestId}", GetActivation);
        csc.MapPost("/accounts/{accountId}/token", RenewToken);
        csc.MapGet("/accounts/{accountId}/entitlements", Entitlements);
        csc.MapPost("/accounts/{accountId}/uploads/{batchId}", Upload);
        csc.MapGet("/accounts/{accountId}/usage", Usage);
        csc.MapPost("/accounts/{accountId}/certificates", SignCertificate);
        csc.MapPost("/offline", CscOffline.Synchronize);
        csc.MapGet("/root", (CscCertificates certificates) => Results.Text(certificates.RootPem, "application/x-pem-file"));
        csc.MapGet("/admin/activations", ListActivations);
        csc.MapPost("/admin/activations/{requestId}/approve", Approve);
        csc.MapPost("/admin/activations/{requestId}/reject", Reject);
    }

    private static async Task<IResult> Activate(HttpContext http, CscStore store, CscEmulatorOptions options)
    {
        RequireOperator(http, options);
        var body = await ReadJsonAsync<ActivationBody>(http);
        var localAccountId = Required(body.LocalAccountId, "localAccountId", 200);
        var name = Required(body.Name, "name", 200);
        var contactEmail = Required(body.ContactEmail, "contactEmail", 320);
        if (!contactEmail.Contains('@'))
            throw CscError.Invalid("contactEmail: not an e-mail address");
        var onPremServer = Required(body.OnPremServer, "onPremServer", 200);

        var (request, created) = store.Activate(localAccountId, name, contactEmail, onPremServer, options.AutoApprove);
        var view = View(request, store);
        return created ? Results.Json(view, CscStore.Json, statusCode: StatusCodes.Status201Created) : Results.Json(view, CscStore.Json);
    }

    private static IResult GetActivation(string requestId, CscStore store) => Results.Json(View(store.GetRequest(requestId), store), CscStore.Json);

    private static IResult RenewToken(HttpContext http, string accountId, CscStore store, CscEmulatorOptions options)
    {
        RequireOperator(http, options);
        var (token, expiresAt) = store.RenewToken(accountId);
        return Results.Json(new TokenView(token, expiresAt), CscStore.Json);
    }

    private static IResult Entitlements(HttpContext http, string accountId, CscStore store, CscCatalogue catalogue)
    {
        store.Authorize(accountId, Bearer(http));
        return Results.Json(catalogue.Read(), CscStore.Json);
    }

    private static IResult Usage(HttpContext http, string accountId, CscStore store)
    {
        store.Authorize(accountId, Bearer(http));
        var (instances, usageRecords, usageByTag) = store.Usage(accountId);
        return Results.Json(new UsageView(instances, usageRecords, usageByTag), CscStore.Json);
    }

    /// <summary>Reads the NDJSON body line by line as it arrives; only the new item ids and their counts are kept.</summary>
    private static async Task<IResult> Upload(HttpContext http, string accountId, string batchId, CscStore store)
    {
        store.Authorize(accountId, Bearer(http));
        CheckId(batchId, "batchId");
        AllowUploadSize(http);
        if (store.FindBatch(accountId, batchId) is { } earlier)
        {
            // Read the body anyway: answering while the client still sends breaks its connection (a client
            // that resends a large batch would see "broken pipe", not the answer). With Expect: 100-continue
            // nothing was sent yet and there is nothing to read.
            await http.Request.Body.CopyToAsync(Stream.Null, http.RequestAborted);
            return Results.Json(earlier, CscStore.Json);
        }

        // Items counted before are found when the batch commits (CscStore.CommitBatch), under its lock.
        var batch = new BatchItems();
        var lineNumber = 0;
        var reader = http.Request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(http.RequestAborted);
            var buffer = read.Buffer;
            try
            {
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    Accept(buffer.Slice(0, end), ++lineNumber);
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                }
                if (read.IsCompleted && !buffer.IsEmpty)
                {
                    Accept(buffer, ++lineNumber);
                    buffer = buffer.Slice(buffer.End);
                }
                else if (buffer.Length > MaxLineBytes)
                    throw CscError.Invalid($"line {lineNumber + 1}: longer than {MaxLineBytes / 1024} KB");
            }
            finally
            {
                // Also after a bad line: Kestrel drains the rest of the body through this reader.
                reader.AdvanceTo(buffer.Start, read.Buffer.End);
            }
            if (read.IsCompleted)
                break;
        }
        return Results.Json(store.CommitBatch(accountId, batchId, batch.Items, batch.Duplicates), CscStore.Json);

        void Accept(ReadOnlySequence<byte> line, int number)
        {
            if (ParseLine(line, number) is { } item)
                batch.Add(item);
        }
    }

    /// <summary>Raises Kestrel's body limit to the 64 MB of uploads, for this request only.</summary>
    internal static void AllowUploadSize(HttpContext http)
    {
        var limit = http.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false })
            limit.MaxRequestBodySize = CscEmulatorHost.UploadLimit;
    }

    private static UploadItem? ParseLine(ReadOnlySequence<byte> line, int number)
    {
        if (IsBlank(line))
            return null;
        UploadLine? parsed;
        try
        {
            parsed = ReadLine(line);
        }
        catch (JsonException ex)
        {
            throw CscError.Invalid($"line {number}: malformed JSON ({ex.Message})");
        }
        return ToItem(parsed, $"line {number}");
    }

    /// <summary>
    /// One line as the web serializer read it (names in any case, a count also as a string, other fields skipped, the
    /// last of a repeated field wins), by hand: a full synchronization is a million lines, and the serializer's own
    /// reading was most of the emulator's time.
    /// </summary>
    private static UploadLine? ReadLine(ReadOnlySequence<byte> line)
    {
        var json = new Utf8JsonReader(line);
        if (!json.Read())
            throw new JsonException("empty line");
        if (json.TokenType == JsonTokenType.Null)
            return json.Read() ? throw new JsonException("more after the value") : null;
        if (json.TokenType != JsonTokenType.StartObject)
            throw new JsonException($"an object was expected, not {json.TokenType}");
        string? kind = null, id = null, tag = null;
        long? count = null;
        while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
        {
            var field = json.HasValueSequence || json.ValueIsEscaped ? Field(Encoding.UTF8.GetBytes(json.GetString()!)) : Field(json.ValueSpan);
            json.Read();
            switch (field)
            {
                case "kind": kind = Text(ref json); break;
                case "id": id = Text(ref json); break;
                case "tag": tag = Text(ref json); break;
                case "count": count = Count(ref json); break;
                default: json.Skip(); break;
            }
        }
        if (json.TokenType != JsonTokenType.EndObject || json.Read())
            throw new JsonException("an object per line was expected");
        return new UploadLine(kind, id, tag, count);

        static string? Field(ReadOnlySpan<byte> name) =>
            System.Text.Ascii.EqualsIgnoreCase(name, "kind"u8) ? "kind" : System.Text.Ascii.EqualsIgnoreCase(name, "id"u8) ? "id"
            : System.Text.Ascii.EqualsIgnoreCase(name, "tag"u8) ? "tag" : System.Text.Ascii.EqualsIgnoreCase(name, "count"u8) ? "count" : null;

        static string? Text(ref Utf8JsonReader json) => json.TokenType switch
        {
            JsonTokenType.String => json.GetString(),
            JsonTokenType.Null => null,
            _ => throw new JsonException($"a string was expected, not {json.TokenType}"),
        };

        static long? Count(ref Utf8JsonReader json) => json.TokenType switch
        {
            JsonTokenType.Number when json.TryGetInt64(out var value) => value,
            JsonTokenType.String when long.TryParse(json.GetString(), System.Globalization.NumberStyles.AllowLeadingSign,
                System.Globalization.CultureInfo.InvariantCulture, out var value) => value,
            JsonTokenType.Null => null,
            _ => throw new JsonException("count is not a whole number"),
        };
    }

    /// <summary>The rules of an upload item, for a line of an upload and an item of an offline request file alike.</summary>
    internal static UploadItem ToItem(UploadLine? parsed, string where)
    {
        if (parsed?.Id is not { } id || !IsValidId(id))
            throw CscError.Invalid($"{where}: id missing or invalid");
        return parsed.Kind switch
        {
            "instance" => new UploadItem(id, "instance", null, 0),
            "usage" when string.IsNullOrWhiteSpace(parsed.Tag) => throw CscError.Invalid($"{where}: tag missing"),
            "usage" when parsed.Count is not >= 0 => throw CscError.Invalid($"{where}: count missing or negative"),
            "usage" => new UploadItem(id, "usage", parsed.Tag, parsed.Count.Value),
            _ => throw CscError.Invalid($"{where}: kind must be \"instance\" or \"usage\""),
        };
    }

    private static bool IsBlank(ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
            foreach (var b in segment.Span)
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
                    return false;
        return true;
    }

    private static async Task<IResult> SignCertificate(HttpContext http, string accountId, CscStore store, CscCertificates certificates)
    {
        store.Authorize(accountId, Bearer(http));
        var body = await ReadJsonAsync<CertificateBody>(http);
        if (string.IsNullOrWhiteSpace(body.Csr))
            throw CscError.Invalid("csr: missing");
        return Results.Json(new CertificateView(certificates.Sign(CscCertificates.LoadRequest(body.Csr)), [certificates.RootPem]), CscStore.Json);
    }

    private static IResult ListActivations(HttpContext http, string? status, CscStore store, CscEmulatorOptions options)
    {
        RequireOperator(http, options);
        ActivationStatus? filter = null;
        if (!string.IsNullOrEmpty(status))
            filter = Enum.TryParse<ActivationStatus>(status, true, out var parsed) && Enum.IsDefined(parsed)
                ? parsed
                : throw CscError.Invalid("status: Pending, Approved or Rejected");
        return Results.Json(new AdminActivationList(store.Requests(filter).Select(AdminActivationView.Of).ToList()), CscStore.Json);
    }

    private static IResult Approve(HttpContext http, string requestId, CscStore store, CscEmulatorOptions options)
    {
        RequireOperator(http, options);
        return Results.Json(AdminActivationView.Of(store.Approve(requestId)), CscStore.Json);
    }

    private static async Task<IResult> Reject(HttpContext http, string requestId, CscStore store, CscEmulatorOptions options)
    {
        RequireOperator(http, options);
        var body = await ReadJsonAsync<RejectBody>(http);
        var reason = Required(body.Reason, "reason", 1000);
        return Results.Json(AdminActivationView.Of(store.Reject(requestId, reason)), CscStore.Json);
    }

    private static ActivationView View(ActivationRequest request, CscStore store)
    {
        if (request.Status == ActivationStatus.Rejected)
            throw CscError.Rejected(request);
        var token = request.AccountId is null ? null : store.LiveToken(request.AccountId);
        return new ActivationView(request.RequestId, request.Status, request.AccountId, token?.AccessToken, token?.ExpiresAt, request.Reason);
    }

    public static void RequireOperator(HttpContext http, CscEmulatorOptions options)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            throw CscError.BadCredentials();
        string credentials;
        try
        {
            credentials = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
        }
        catch (FormatException)
        {
            throw CscError.BadCredentials();
        }
        var colon = credentials.IndexOf(':');
        if (colon < 0 || !(SameSecret(credentials[..colon], options.User) & SameSecret(credentials[(colon + 1)..], options.Password)))
            throw CscError.BadCredentials();
    }

    private static bool SameSecret(string given, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static string? Bearer(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    internal static async Task<T> ReadJsonAsync<T>(HttpContext http)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(http.Request.Body, CscStore.Json, http.RequestAborted)
                ?? throw CscError.Invalid("body: a JSON object is expected");
        }
        catch (JsonException ex)
        {
            throw CscError.Invalid($"body: malformed JSON ({ex.Message})");
        }
    }

    internal static string Required(string? value, string field, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw CscError.Invalid($"{field}: missing");
        if (value.Length > maxLength)
            throw CscError.Invalid($"{field}: longer than {maxLength} characters");
        return value.Trim();
    }

    internal static void CheckId(string id, string field)
    {
        if (!IsValidId(id))
            throw CscError.Invalid($"{field}: 1 to 200 visible characters");
    }

    // Ids go one per line into received.log: no whitespace or control characters.
    private static bool IsValidId(string id) => id.Length is > 0 and <= 200 && id.All(c => c > ' ' && c != '\u007f');
}
