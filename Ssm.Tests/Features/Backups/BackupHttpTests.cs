using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Marten;
using Mediator;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Backups;
using Ssm.Domain.Accounts;
using Ssm.Domain.Backups;
using Ssm.Infrastructure.Backups;
using Ssm.Infrastructure.Persistence;
using Ssm.Tests.Features.Api;
using Ssm.Tests.Support;
using Ssm.Web.Hosting;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Backups;

public sealed class BackupNodeFixture : ApiNodeFixture
{
    protected override string Database => "ssm_backups_node";
}

/// <summary>
/// The Backups API of a real node over HTTP: the schedule's job writes a backup, an admin downloads it as a stream and
/// it restores onto a fresh database; everyone else is refused, and so is any name that is not a backup's (decision 0037).
/// </summary>
public sealed class BackupHttpTests(BackupNodeFixture fixture) : IClassFixture<BackupNodeFixture>
{
    private const string Passphrase = "http backup passphrase";
    private const string Own = "daves very own passphrase";

    private static async Task<JsonElement> OkJson(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task A_scheduled_backup_is_downloaded_as_a_stream_and_restores_onto_a_fresh_node()
    {
        var node = fixture.Node;
        using var admin = await node.SignedInAsync(source: IPAddress.Parse("127.0.4.1"));
        var account = await OperatorApi.CreateAccountAsync(admin, $"Kept {Guid.NewGuid():N}"[..14]);

        // Bad input over the API: problem details, nothing stored (the other test of the class may have set a schedule first).
        var before = (await OkJson(await admin.GetAsync("/api/backups"))).GetProperty("schedule").ToString();
        var bad = await admin.PutAsJsonAsync("/api/backups/schedule", new { enabled = true, intervalHours = 24, retention = 0, passphrase = "another passphrase" });
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await bad.Content.ReadAsStringAsync()).ShouldContain("Keep 1–100 backups.");
        (await OkJson(await admin.GetAsync("/api/backups"))).GetProperty("schedule").ToString().ShouldBe(before);

        var schedule = await OkJson(await admin.PutAsJsonAsync("/api/backups/schedule",
            new { enabled = true, intervalHours = 24, retention = 3, passphrase = Passphrase }));
        schedule.GetProperty("passphraseSet").GetBoolean().ShouldBeTrue();
        schedule.ToString().ShouldNotContain(Passphrase);

        // A day passes (the next run is moved into the past); the node's own job takes the backup within its half minute.
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await using (var session = store.LightweightSession())
        {
            var stored = (await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId))!;
            stored.NextRunAt = DateTimeOffset.UtcNow.AddSeconds(-1);
            session.Store(stored);
            await session.SaveChangesAsync();
        }
        var run = await Eventually.FoundAsync<JsonElement>(async () =>
                (await OkJson(await admin.GetAsync("/api/backups"))).GetProperty("runs").EnumerateArray()
                .Where(r => r.GetProperty("trigger").ToString() == "Scheduled" && r.GetProperty("result").ToString() != "Running")
                .Select(r => (JsonElement?)r).FirstOrDefault(),
            TimeSpan.FromSeconds(90), "the job took no scheduled backup");
        run.GetProperty("result").ToString().ShouldBe("Succeeded", run.ToString());
        var fileName = run.GetProperty("fileName").GetString()!;

        // Created after the backup: not in it.
        await OperatorApi.CreateAccountAsync(admin, $"Later {Guid.NewGuid():N}"[..15]);

        var download = await admin.GetAsync($"/api/backups/files/{fileName}", HttpCompletionOption.ResponseHeadersRead);
        download.StatusCode.ShouldBe(HttpStatusCode.OK);
        download.Content.Headers.ContentType!.MediaType.ShouldBe("application/octet-stream");
        download.Content.Headers.ContentDisposition!.FileNameStar.ShouldBe(fileName);
        var bytes = await download.Content.ReadAsByteArrayAsync();
        bytes.LongLength.ShouldBe(run.GetProperty("sizeBytes").GetInt64());

        // Restored onto a fresh node's database, as `ssm restore` does: the account as at the backup, not the later one.
        var server = await PostgresServer.GetAsync();
        var fresh = await server.CreateDatabaseAsync("ssm_backups_restored");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Ssm"] = fresh, ["Node:Name"] = "restored",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSsmCore(configuration);
        await using var restored = services.BuildServiceProvider();
        await restored.GetRequiredService<SchemaInitializer>().StartAsync(CancellationToken.None);
        await using (var scope = restored.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = CurrentUser.Console;
            await using var archive = await BackupArchive.OpenAsync(new MemoryStream(bytes), Passphrase, CancellationToken.None);
            var contents = await scope.ServiceProvider.GetRequiredService<ISender>().Send(new RestoreBackup(archive, fileName));
            contents.Node.ShouldBe("test-node");
        }
        await using var query = restored.GetRequiredService<IDocumentStore>().QuerySession();
        var names = await query.Query<LocalAccount>().Select(a => a.Name).ToListAsync();
        names.ShouldContain(account.Name);
        names.ShouldNotContain(n => n.StartsWith("Later"));
    }

    [Fact]
    public async Task Viewers_account_administrators_and_strangers_get_nothing_of_the_backups_api()
    {
        var node = fixture.Node;
        using var admin = await node.SignedInAsync(source: IPAddress.Parse("127.0.4.2"));
        await OkJson(await admin.PutAsJsonAsync("/api/backups/schedule", new { enabled = false, intervalHours = 24, retention = 3, passphrase = Passphrase }));
        var taken = await OkJson(await admin.PostAsync("/api/backups", null));
        var fileName = taken.GetProperty("fileName").GetString()!;
        taken.GetProperty("result").ToString().ShouldBe("Succeeded", taken.ToString());

        var viewerName = $"vera{Guid.NewGuid():N}"[..12];
        await node.SetPasswordAsync(viewerName, Own, "viewer");
        using var viewer = await node.SignedInAsync(viewerName, Own, IPAddress.Parse("127.0.4.3"));

        var account = await OperatorApi.CreateAccountAsync(admin, $"Dave {Guid.NewGuid():N}"[..14]);
        var daveName = $"dave{Guid.NewGuid():N}"[..12];
        (await admin.PostAsJsonAsync("/api/users", new
        {
            userName = daveName, password = "first-password-from-admin", role = "Accounts",
            grants = new[] { new { accountId = account.Id, access = "Administrator" } },
        })).StatusCode.ShouldBe(HttpStatusCode.Created);
        using var dave = node.Anonymous(IPAddress.Parse("127.0.4.4"));
        (await dave.PostAsJsonAsync("/api/session", new { userName = daveName, password = "first-password-from-admin" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await dave.PostAsJsonAsync("/api/session/password", new { currentPassword = "first-password-from-admin", newPassword = Own }))
            .StatusCode.ShouldBe(HttpStatusCode.NoContent);
        // Dave does administer his account: the refusals below are about backups, not about a half-made user.
        (await dave.GetAsync($"/api/accounts/{account.Id}/registration-tokens")).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var stranger = node.Anonymous(IPAddress.Parse("127.0.4.5"));
        foreach (var (client, status) in new[] { (viewer, HttpStatusCode.Forbidden), (dave, HttpStatusCode.Forbidden), (stranger, HttpStatusCode.Unauthorized) })
        {
            (await client.GetAsync("/api/backups")).StatusCode.ShouldBe(status);
            (await client.PutAsJsonAsync("/api/backups/schedule", new { enabled = true, intervalHours = 1, retention = 1, passphrase = "an attackers passphrase" }))
                .StatusCode.ShouldBe(status);
            (await client.PostAsync("/api/backups", null)).StatusCode.ShouldBe(status);
            var download = await client.GetAsync($"/api/backups/files/{fileName}");
            download.StatusCode.ShouldBe(status);
            (await download.Content.ReadAsByteArrayAsync()).AsSpan().IndexOf("SSMBACKUP1"u8).ShouldBe(-1);
        }
        var after = await OkJson(await admin.GetAsync("/api/backups"));
        (after.GetProperty("schedule").GetProperty("enabled").GetBoolean(), after.GetProperty("schedule").GetProperty("retention").GetInt32()).ShouldBe((false, 3));

        // Even the admin gets nothing but backups: a path, an escaped path, or a backup name that does not exist.
        foreach (var path in new[] { "..%2F..%2Fetc%2Fpasswd", "..%2Fpg%2FPG_VERSION", "%2Fetc%2Fpasswd", $"{fileName}.partial" })
        {
            var refused = await admin.GetAsync($"/api/backups/files/{path}");
            refused.StatusCode.ShouldBe(HttpStatusCode.BadRequest, path);
            (await refused.Content.ReadAsStringAsync()).ShouldContain("is not the name of a backup");
        }
        (await admin.GetAsync("/api/backups/files/ssm-backup-20200101-000000-000.ssmbackup")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
