using System.Text.Json.Serialization;
using System.Text.Json;
using Ssm.Application.Ha;

namespace Ssm.Application.Sync;

// The files of offline (manual) synchronization, docs/csc-api.md "POST /csc/v1/offline".

public sealed record OfflineItemsBatch(string BatchId, IReadOnlyList<JsonElement> Items);

public sealed record OfflineRequestAccount(Guid LocalAccountId, string Name, string ContactEmail, string? AccountId, OfflineItemsBatch? Batch);

public sealed record OfflineRequestFile(string Format, string RequestId, DateTimeOffset CreatedAt, string OnPremServer,
    IReadOnlyList<OfflineRequestAccount> Accounts, string? Csr)
{
    public const string FormatName = "ssm-offline-request/1";
}

public sealed record OfflineBatchResult(string BatchId, int Accepted, int Duplicates);

public sealed record OfflineResponseAccount(Guid LocalAccountId, ActivationStatus Status, string? AccountId, string? AccessToken,
    DateTimeOffset? ExpiresAt, string? Reason, IReadOnlyList<EntitlementInfo>? Entitlements, OfflineBatchResult? Batch);

public sealed record OfflineCertificate(string Certificate, IReadOnlyList<string> Chain);

public sealed record OfflineResponseFile(string Format, string RequestId, DateTimeOffset CreatedAt, IReadOnlyList<OfflineResponseAccount> Accounts,
    OfflineCertificate? Certificate)
{
    public const string FormatName = "ssm-offline-response/1";
}

public sealed record OfflineFile(string FileName, string Json, int Accounts, int Items);

public static class OfflineJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };
}
