using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ssm.CscEmulator;

public enum ActivationStatus { Pending, Approved, Rejected }

public sealed class ActivationRequest
{
    public string RequestId { get; set; } = "";
    public string LocalAccountId { get; set; } = "";
    public string Name { get; set; } = "";
    public string ContactEmail { get; set; } = "";
    public string OnPremServer { get; set; } = "";
    public ActivationStatus Status { get; set; }
    public string? Reason { get; set; }
    public string? AccountId { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? DecidedAt { get; set; }
}

public sealed class CscAccount
{
    public string AccountId { get; set; } = "";
    public string Name { get; set; } = "";
    public string LocalAccountId { get; set; } = "";
    public string AccessToken { get; set; } = "";
    public DateTime ExpiresAt { get; set; }
    public long Instances { get; set; }
    public long UsageRecords { get; set; }
    public Dictionary<string, long> UsageByTag { get; set; } = [];
    public Dictionary<string, UploadResult> Batches { get; set; } = [];
}

public sealed record UploadResult(string BatchId, int Accepted, int Duplicates);

public sealed record UploadItem(string Id, string Kind, string? Tag, long Count);

/// <summary>The items of one batch as read: a repeat inside the batch (or, if asked, an id counted before) is a duplicate and not kept.</summary>
public sealed class BatchItems(Func<string, bool>? receivedBefore = null)
{
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);

    public List<UploadItem> Items { get; } = [];
    public int Duplicates { get; private set; }

    public void Add(UploadItem item)
    {
        if (!_ids.Add(item.Id) || receivedBefore?.Invoke(item.Id) == true)
            Duplicates++;
        else
            Items.Add(item);
    }
}

public sealed record OfflineBatch(string BatchId, IReadOnlyList<UploadItem> Items, int Duplicates);

/// <summary>An account of an offline request file, checked: Name and ContactEmail are set when AccountId is null.</summary>
public sealed record OfflineAccount(string LocalAccountId, string? Name, string? ContactEmail, string? AccountId, OfflineBatch? Batch);

public sealed record OfflineAccountResult(string LocalAccountId, ActivationStatus Status, string? AccountId, string? AccessToken,
    DateTime? ExpiresAt, string? Reason, UploadResult? Batch);

public sealed class EmulatorState
{
    public List<ActivationRequest> Requests { get; set; } = [];
    public List<CscAccount> Accounts { get; set; } = [];
    /// <summary>Length of received.log covered by this state: a longer log has an uncommitted tail.</summary>
    public long ReceivedLogBytes { get; set; }
}

/// <summary>
/// The emulator's state: state.json (rewritten atomically after every change, under one lock) and
/// received.log (the counted item ids, appended). An upload commits in two steps: its ids are appended to
/// the log and flushed, then state.json records the counts, the batch result and the log's new length.
/// On start the log is cut back to that length, so a kill between the two steps leaves neither the ids
/// nor the counts: the client's retry counts the batch exactly once.
/// </summary>
public sealed class CscStore : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = true,
    };

    private readonly Lock _lock = new();
    private readonly string _statePath;
    private readonly EmulatorState _state;
    /// <summary>The counted item ids, per account (the log's lines are "account/item").</summary>
    private readonly Dictionary<string, HashSet<string>> _received = new(StringComparer.Ordinal);
    private readonly FileStream _log;
    private readonly TimeSpan _tokenLifetime;

    public CscStore(string dataDirectory, TimeSpan tokenLifetime)
    {
        _tokenLifetime = tokenLifetime;
        _statePath = Path.Combine(dataDirectory, "state.json");
        _state = File.Exists(_statePath)
            ? JsonSerializer.Deserialize<EmulatorState>(File.ReadAllText(_statePath), Json) ?? new()
            : new();

        _log = new FileStream(Path.Combine(dataDirectory, "received.log"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        if (_log.Length > _state.ReceivedLogBytes)
            _log.SetLength(_state.ReceivedLogBytes);
        using (var reader = new StreamReader(_log, Encoding.UTF8, false, 4096, leaveOpen: true))
        {
            while (reader.ReadLine() is { } line)
                if (line.IndexOf('/') is > 0 and var slash)
                    ReceivedOf(line[..slash]).Add(line[(slash + 1)..]);
        }
        _log.Seek(0, SeekOrigin.End);
        if (!File.Exists(_statePath))
            Save();
    }

    public int ReceivedCount { get { lock (_lock) return _received.Values.Sum(ids => ids.Count); } }

    public (ActivationRequest Request, bool Created) Activate(string localAccountId, string name, string contactEmail, string onPremServer, bool autoApprove)
    {
        lock (_lock)
        {
            var existing = _state.Requests.FirstOrDefault(r => r.LocalAccountId == localAccountId);
            if (existing is not null)
                return (existing, false);
            CheckNameFreeLocked(name);
            var request = AddRequestLocked(localAccountId, name, contactEmail, onPremServer, autoApprove);
            Save();
            return (request, true);
        }
    }

    /// <summary>
    /// The offline synchronization of one request file, under one lock and committed by one rewrite of state.json:
    /// everything is checked before anything changes, so a refused file leaves no trace.
    /// </summary>
    public IReadOnlyList<OfflineAccountResult> SynchronizeOffline(string onPremServer, IReadOnlyList<OfflineAccount> accounts, bool autoApprove)
    {
        lock (_lock)
        {
            var newNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < accounts.Count; i++)
            {
                var wanted = accounts[i];
                if (wanted.AccountId is not null)
                {
                    var known = _state.Accounts.FirstOrDefault(a => a.AccountId == wanted.AccountId)
                        ?? throw CscError.Invalid($"accounts[{i}].accountId: no account {wanted.AccountId}");
                    if (known.LocalAccountId != wanted.LocalAccountId)
                        throw CscError.Invalid($"accounts[{i}].accountId: account {wanted.AccountId} belongs to another localAccountId");
                }
                else if (!_state.Requests.Any(r => r.LocalAccountId == wanted.LocalAccountId))
                {
                    CheckNameFreeLocked(wanted.Name!);
                    if (!newNames.Add(wanted.Name!))
                        throw new CscError(409, "duplicate_account", $"accounts[{i}].name: {wanted.Name} is asked twice in this file");
                }
            }

            var results = new List<OfflineAccountResult>();
            foreach (var wanted in accounts)
            {
                var request = wanted.AccountId is null
                    ? _state.Requests.FirstOrDefault(r => r.LocalAccountId == wanted.LocalAccountId)
                      ?? AddRequestLocked(wanted.LocalAccountId, wanted.Name!, wanted.ContactEmail!, onPremServer, autoApprove)
                    : null;
                if (request is { Status: not ActivationStatus.Approved })
                {
                    results.Add(new(wanted.LocalAccountId, request.Status, null, null, null, request.Reason, null));
                    continue;
                }
                var account = FindAccount(wanted.AccountId ?? request!.AccountId!);
                IssueToken(account);
                var batch = wanted.Batch is { } b ? CommitBatchLocked(account, b.BatchId, b.Items, b.Duplicates) : null;
                results.Add(new(wanted.LocalAccountId, ActivationStatus.Approved, account.AccountId, account.AccessToken, account.ExpiresAt, null, batch));
            }
            _state.ReceivedLogBytes = _log.Length;
            Save();
            return results;
        }
    }

    public ActivationRequest GetRequest(string requestId)
    {
        lock (_lock)
            return FindRequest(requestId);
    }

    public IReadOnlyList<ActivationRequest> Requests(ActivationStatus? status)
    {
        lock (_lock)
            return _state.Requests.Where(r => status is null || r.Status == status).OrderByDescending(r => r.CreatedAt).ToList();
    }

    public ActivationRequest Approve(string requestId)
    {
        lock (_lock)
        {
            var request = FindRequest(requestId);
            switch (request.Status)
            {
                case ActivationStatus.Rejected:
                    throw CscError.Rejected(request);
                case ActivationStatus.Pending:
                    ApproveLocked(request);
                    Save();
                    break;
            }
            return request;
        }
    }

    public ActivationRequest Reject(string requestId, string reason)
    {
        lock (_lock)
        {
            var request = FindRequest(requestId);
            switch (request.Status)
            {
                case ActivationStatus.Approved:
                    throw CscError.Invalid($"request {requestId} is already approved (account {request.AccountId}); it cannot be rejected");
                case ActivationStatus.Pending:
                    request.Status = ActivationStatus.Rejected;
                    request.Reason = reason;
                    request.DecidedAt = DateTime.UtcNow;
                    Save();
                    break;
            }
            return request;
        }
    }

    /// <summary>The account's live token, or null once it has expired.</summary>
    public (string AccessToken, DateTime ExpiresAt)? LiveToken(string accountId)
    {
        lock (_lock)
        {
            var account = _state.Accounts.FirstOrDefault(a => a.AccountId == accountId);
            return account is null || account.ExpiresAt <= DateTime.UtcNow ? null : (account.AccessToken, account.ExpiresAt);
        }
    }

    public (string AccessToken, DateTime ExpiresAt) RenewToken(string accountId)
    {
        lock (_lock)
        {
            var account = FindAccount(accountId);
            IssueToken(account);
            Save();
            return (account.AccessToken, account.ExpiresAt);
        }
    }

    /// <summary>Checks that the bearer token is the live token of this account.</summary>
    public void Authorize(string accountId, string? bearer)
    {
        lock (_lock)
        {
            var account = FindAccount(accountId);
            if (bearer is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(bearer), Encoding.UTF8.GetBytes(account.AccessToken)))
                throw CscError.TokenInvalid();
            if (account.ExpiresAt <= DateTime.UtcNow)
                throw CscError.TokenExpired();
        }
    }

    public UploadResult? FindBatch(string accountId, string batchId)
    {
        lock (_lock)
            return FindAccount(accountId).Batches.GetValueOrDefault(batchId);
    }

    /// <summary>True if the item was counted before (in a committed batch).</summary>
    public bool WasReceived(string accountId, string itemId)
    {
        lock (_lock)
            return _received.TryGetValue(accountId, out var ids) && ids.Contains(itemId);
    }

    public UploadResult CommitBatch(string accountId, string batchId, IReadOnlyList<UploadItem> items, int duplicatesInBody)
    {
        lock (_lock)
        {
            var account = FindAccount(accountId);
            if (account.Batches.TryGetValue(batchId, out var earlier))
                return earlier;
            var result = CommitBatchLocked(account, batchId, items, duplicatesInBody);
            _state.ReceivedLogBytes = _log.Length;
            Save();
            return result;
        }
    }

    /// <summary>Appends the batch's new ids to the log (flushed) and counts them; the caller's Save commits it (decision 0007).</summary>
    private UploadResult CommitBatchLocked(CscAccount account, string batchId, IReadOnlyList<UploadItem> items, int duplicatesInBody)
    {
        if (account.Batches.TryGetValue(batchId, out var earlier))
            return earlier;

        // Another batch may have committed some of these ids while this body was being read.
        var received = ReceivedOf(account.AccountId);
        var fresh = items.Where(i => !received.Contains(i.Id)).ToList();
        var result = new UploadResult(batchId, fresh.Count, duplicatesInBody + items.Count - fresh.Count);
        if (fresh.Count > 0)
        {
            // Through a small pooled buffer: a 20,000-item batch as one string and one array would be two large-object
            // allocations per batch, and each costs a full collection over every id received so far.
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
            var used = 0;
            foreach (var item in fresh)
            {
                if (used + Encoding.UTF8.GetMaxByteCount(account.AccountId.Length + item.Id.Length + 2) > buffer.Length)
                {
                    _log.Write(buffer, 0, used);
                    used = 0;
                }
                used += Encoding.UTF8.GetBytes(account.AccountId, buffer.AsSpan(used));
                buffer[used++] = (byte)'/';
                used += Encoding.UTF8.GetBytes(item.Id, buffer.AsSpan(used));
                buffer[used++] = (byte)'\n';
            }
            _log.Write(buffer, 0, used);
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            _log.Flush(flushToDisk: true);
        }

        foreach (var item in fresh)
        {
            received.Add(item.Id);
            if (item.Kind == "instance")
                account.Instances++;
            else
            {
                account.UsageRecords++;
                account.UsageByTag[item.Tag!] = account.UsageByTag.GetValueOrDefault(item.Tag!) + item.Count;
            }
        }
        account.Batches[batchId] = result;
        return result;
    }

    public (long Instances, long UsageRecords, Dictionary<string, long> UsageByTag) Usage(string accountId)
    {
        lock (_lock)
        {
            var account = FindAccount(accountId);
            return (account.Instances, account.UsageRecords, new Dictionary<string, long>(account.UsageByTag));
        }
    }

    private void CheckNameFreeLocked(string name)
    {
        var clash = _state.Requests.FirstOrDefault(r => r.Status != ActivationStatus.Rejected
            && string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));
        if (clash is not null)
            throw new CscError(409, "duplicate_account", $"another on-prem server ({clash.OnPremServer}) already activated an account named {clash.Name}");
    }

    private ActivationRequest AddRequestLocked(string localAccountId, string name, string contactEmail, string onPremServer, bool autoApprove)
    {
        var request = new ActivationRequest
        {
            RequestId = "r-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
            LocalAccountId = localAccountId,
            Name = name,
            ContactEmail = contactEmail,
            OnPremServer = onPremServer,
            Status = ActivationStatus.Pending,
            CreatedAt = DateTime.UtcNow,
        };
        _state.Requests.Add(request);
        if (autoApprove)
            ApproveLocked(request);
        return request;
    }

    private void ApproveLocked(ActivationRequest request)
    {
        var account = new CscAccount
        {
            AccountId = "csc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
            Name = request.Name,
            LocalAccountId = request.LocalAccountId,
        };
        IssueToken(account);
        _state.Accounts.Add(account);
        request.Status = ActivationStatus.Approved;
        request.AccountId = account.AccountId;
        request.DecidedAt = DateTime.UtcNow;
    }

    private void IssueToken(CscAccount account)
    {
        account.AccessToken = System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        account.ExpiresAt = DateTime.UtcNow + _tokenLifetime;
    }

    private ActivationRequest FindRequest(string requestId) =>
        _state.Requests.FirstOrDefault(r => r.RequestId == requestId) ?? throw CscError.NotFound($"no activation request {requestId}");

    private CscAccount FindAccount(string accountId) =>
        _state.Accounts.FirstOrDefault(a => a.AccountId == accountId) ?? throw CscError.NotFound($"no account {accountId}");

    private HashSet<string> ReceivedOf(string accountId)
    {
        if (!_received.TryGetValue(accountId, out var ids))
            _received[accountId] = ids = new HashSet<string>(StringComparer.Ordinal);
        return ids;
    }

    private void Save()
    {
        var temp = _statePath + ".tmp";
        // It holds the access tokens: readable by the emulator's user only.
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        {
            JsonSerializer.Serialize(stream, _state, Json);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, _statePath, overwrite: true);
    }

    public void Dispose() => _log.Dispose();
}
