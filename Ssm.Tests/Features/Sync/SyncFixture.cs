using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Json;
using System.Text.Json;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Sync;

/// <summary>
/// The node's services wired to a real CSC emulator process over HTTPS (trusting only its root), on a
/// database of their own. Subclasses choose how the emulator approves and how long its tokens live.
/// </summary>
public abstract class CscFixture(string database, string approval, string tokenLifetime) : ServiceFixture(database)
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"ssm-test-csc-{Guid.NewGuid():N}");
    public CscEmulatorProcess Csc { get; private set; } = default!;
    public static readonly Ssm.Application.Sync.CscCredentials Operator = new("csc-operator", CscEmulatorProcess.Password);

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        Csc = await CscEmulatorProcess.StartAsync(_data, approval, tokenLifetime);
        return new Dictionary<string, string?>
        {
            ["Csc:Url"] = Csc.BaseAddress.ToString(),
            ["Csc:RootCertificate"] = Csc.RootPath,
            ["Csc:AttemptTimeoutSeconds"] = "5",
            ["Csc:Retries"] = "1",
        };
    }

    /// <summary>Kills the emulator and starts it again on the same port and data (its state must survive).</summary>
    public async Task RestartCscAsync(Func<Task>? whileDown = null)
    {
        var port = Csc.BaseAddress.Port;
        await Csc.DisposeAsync();
        if (whileDown is not null)
            await whileDown();
        Csc = await CscEmulatorProcess.StartAsync(_data, approval, tokenLifetime, port);
    }

    /// <summary>What CSC counted for an account: instances and usage records.</summary>
    public async Task<(int Instances, int Usage)> CountedAsync(string cscAccountId, string token)
    {
        using var http = Csc.Client();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var usage = JsonDocument.Parse(await http.GetStringAsync($"/csc/v1/accounts/{cscAccountId}/usage")).RootElement;
        return (usage.GetProperty("instances").GetInt32(), usage.GetProperty("usageRecords").GetInt32());
    }

    /// <summary>Returns once CSC refuses the account's token as expired (401), as the node's next sync will find it.</summary>
    public async Task WaitTokenExpiredAsync(Guid localAccountId)
    {
        string cscAccountId, token;
        await using (var session = Services.GetRequiredService<Marten.IDocumentStore>().QuerySession())
        {
            var account = (await session.LoadAsync<Ssm.Domain.Accounts.LocalAccount>(localAccountId))!;
            (cscAccountId, token) = (account.CscAccountId!, account.AccessToken!);
        }
        using var http = Csc.Client();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await http.GetAsync($"/csc/v1/accounts/{cscAccountId}/usage");
            if (response.StatusCode == System.Net.HttpStatusCode.Unauthorized)
            {
                (await response.Content.ReadAsStringAsync()).ShouldContain("token_expired");
                return;
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"CSC still accepts the token of {cscAccountId}: {response.StatusCode}");
            await Task.Delay(100);
        }
    }

    public async Task AdminAsync(string requestId, string verb, string? reason = null)
    {
        using var http = Csc.Operator();
        var response = await http.PostAsJsonAsync($"/csc/v1/admin/activations/{requestId}/{verb}", new { reason });
        response.EnsureSuccessStatusCode();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (Csc is not null)
            await Csc.DisposeAsync();
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }
}

/// <summary>Manual approval, tokens for a day.</summary>
public sealed class ManualCscFixture() : CscFixture("ssm_sync", "manual", "1.00:00:00");

/// <summary>Automatic approval, tokens that expire after 3 seconds.</summary>
public sealed class ShortTokenCscFixture() : CscFixture("ssm_sync_tokens", "auto", "00:00:03");

/// <summary>Manual approval, for the page tests (a database of their own).</summary>
public sealed class SyncPagesCscFixture() : CscFixture("ssm_sync_pages", "manual", "1.00:00:00");

/// <summary>Automatic approval, for offline synchronization by files.</summary>
public sealed class OfflineCscFixture() : CscFixture("ssm_sync_offline", "auto", "1.00:00:00");
