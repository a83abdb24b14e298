using System.Text.Json;

namespace Ssm.CscEmulator;

public sealed record OfflineRequestFile(string? Format, string? RequestId, DateTime? CreatedAt, string? OnPremServer,
    List<OfflineRequestAccount?>? Accounts, string? Csr);

public sealed record OfflineRequestAccount(string? LocalAccountId, string? Name, string? ContactEmail, string? AccountId, OfflineRequestBatch? Batch);

// Items stay JSON elements until checked one by one, so that an error names the item.
public sealed record OfflineRequestBatch(string? BatchId, List<JsonElement>? Items);

public sealed record OfflineResponseFile(string Format, string RequestId, DateTime CreatedAt, IReadOnlyList<OfflineResponseAccount> Accounts,
    CertificateView? Certificate);

public sealed record OfflineResponseAccount(string LocalAccountId, ActivationStatus Status, string? AccountId, string? AccessToken,
    DateTime? ExpiresAt, string? Reason, IReadOnlyList<Entitlement> Entitlements, UploadResult? Batch);

/// <summary>
/// `POST /csc/v1/offline`: a request file in, a response file out. The file is checked whole (CSR included) before
/// the store activates, counts and renews anything, and the store commits the file in one step.
/// </summary>
public static class CscOffline
{
    public const string RequestFormat = "ssm-offline-request/1";
    public const string ResponseFormat = "ssm-offline-response/1";

    public static async Task<IResult> Synchronize(HttpContext http, CscStore store, CscCatalogue catalogue, CscCertificates certificates, CscEmulatorOptions options)
    {
        CscEndpoints.RequireOperator(http, options);
        CscEndpoints.AllowUploadSize(http);
        var response = await ProcessAsync(http.Request.Body, store, catalogue, certificates, options, http.RequestAborted);
        return Results.Json(response, CscStore.Json);
    }

    public static async Task<OfflineResponseFile> ProcessAsync(Stream requestFile, CscStore store, CscCatalogue catalogue, CscCertificates certificates,
        CscEmulatorOptions options, CancellationToken ct)
    {
        OfflineRequestFile file;
        try
        {
            file = await JsonSerializer.DeserializeAsync<OfflineRequestFile>(requestFile, CscStore.Json, ct)
                ?? throw CscError.Invalid("request file: a JSON object is expected");
        }
        catch (JsonException ex)
        {
            throw CscError.Invalid($"request file: malformed JSON ({ex.Message})");
        }

        if (file.Format != RequestFormat)
            throw CscError.Invalid($"format: \"{RequestFormat}\" expected");
        var requestId = Id(file.RequestId, "requestId");
        if (file.CreatedAt is null)
            throw CscError.Invalid("createdAt: missing");
        var onPremServer = CscEndpoints.Required(file.OnPremServer, "onPremServer", 200);
        if (file.Accounts is not { Count: > 0 })
            throw CscError.Invalid("accounts: at least one account is expected");
        var accounts = file.Accounts.Select(Check).ToList();
        var duplicate = accounts.GroupBy(a => a.LocalAccountId).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw CscError.Invalid($"accounts: localAccountId {duplicate.Key} appears more than once");
        var csr = file.Csr is null ? null : CscCertificates.LoadRequest(CscEndpoints.Required(file.Csr, "csr", 64 * 1024));

        var results = store.SynchronizeOffline(onPremServer, accounts, options.AutoApprove);
        IReadOnlyList<Entitlement> entitlements = results.Any(r => r.Status == ActivationStatus.Approved) ? catalogue.Read().Entitlements : [];
        var certificate = csr is not null && results.Any(r => r.Status == ActivationStatus.Approved)
            ? new CertificateView(certificates.Sign(csr), [certificates.RootPem])
            : null;
        return new OfflineResponseFile(ResponseFormat, requestId, DateTime.UtcNow,
            results.Select(r => new OfflineResponseAccount(r.LocalAccountId, r.Status, r.AccountId, r.AccessToken, r.ExpiresAt, r.Reason,
                r.Status == ActivationStatus.Approved ? entitlements : [], r.Batch)).ToList(),
            certificate);
    }

    private static OfflineAccount Check(OfflineRequestAccount? account, int index)
    {
        var at = $"accounts[{index}]";
        if (account is null)
            throw CscError.Invalid($"{at}: an object is expected");
        var localAccountId = CscEndpoints.Required(account.LocalAccountId, $"{at}.localAccountId", 200);
        string? accountId = null;
        if (account.AccountId is not null)
            accountId = Id(account.AccountId, $"{at}.accountId");
        // An activation needs its name and contact, as POST /csc/v1/activations; a known account may carry them unread.
        string? name = null, contactEmail = null;
        if (accountId is null || account.Name is not null)
            name = CscEndpoints.Required(account.Name, $"{at}.name", 200);
        if (accountId is null || account.ContactEmail is not null)
        {
            contactEmail = CscEndpoints.Required(account.ContactEmail, $"{at}.contactEmail", 320);
            if (!contactEmail.Contains('@'))
                throw CscError.Invalid($"{at}.contactEmail: not an e-mail address");
        }
        return new OfflineAccount(localAccountId, name, contactEmail, accountId, account.Batch is null ? null : Check(account.Batch, $"{at}.batch"));
    }

    private static OfflineBatch Check(OfflineRequestBatch batch, string at)
    {
        var batchId = Id(batch.BatchId, $"{at}.batchId");
        if (batch.Items is null)
            throw CscError.Invalid($"{at}.items: missing");
        var items = new BatchItems();
        for (var i = 0; i < batch.Items.Count; i++)
        {
            UploadLine? line;
            try
            {
                line = batch.Items[i].Deserialize<UploadLine>(CscStore.Json);
            }
            catch (JsonException ex)
            {
                throw CscError.Invalid($"{at}.items[{i}]: malformed ({ex.Message})");
            }
            items.Add(CscEndpoints.ToItem(line, $"{at}.items[{i}]"));
        }
        return new OfflineBatch(batchId, items.Items, items.Duplicates);
    }

    private static string Id(string? value, string field)
    {
        if (value is null)
            throw CscError.Invalid($"{field}: missing");
        CscEndpoints.CheckId(value, field);
        return value;
    }
}
