using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Certificates;
using Ssm.Application.Common;
using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain.Accounts;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Sync;

/// <summary>Activation, synchronization and certificate signing against the real CSC emulator (manual approval).</summary>
public sealed class SyncTests(ManualCscFixture fixture) : IClassFixture<ManualCscFixture>, IAsyncLifetime
{
    private static readonly CscCredentials Operator = CscFixture.Operator;

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<AccountDto> NewAccountAsync(string name) =>
        await fixture.Send(new CreateAccount($"{name}-{Guid.NewGuid():N}"[..20], "", "ops@example.com"));

    private async Task<SyncRunDto> SyncAsync(Guid? accountId = null)
    {
        var run = await fixture.Send(new SynchronizeNow(accountId));
        await fixture.Services.GetRequiredService<SyncRunner>().WaitAsync(run.Id);
        return (await fixture.Send(new ListSyncRuns())).Items.Single(r => r.Id == run.Id);
    }

    private async Task<LocalAccount> LoadAsync(Guid id)
    {
        await using var query = fixture.Query();
        return (await query.LoadAsync<LocalAccount>(id))!;
    }

    private async Task<LocalAccount> ActiveAccountAsync(string name)
    {
        var account = await NewAccountAsync(name);
        var requested = await fixture.Send(new RequestActivation(account.Id, Operator));
        requested.Status.ShouldBe(AccountStatus.Requested);
        await fixture.AdminAsync((await LoadAsync(account.Id)).ActivationRequestId!, "approve");
        (await SyncAsync(account.Id)).Result.ShouldBe(SyncResult.Succeeded);
        var loaded = await LoadAsync(account.Id);
        loaded.Status.ShouldBe(AccountStatus.Active);
        return loaded;
    }

    [Fact]
    public async Task Wrong_CSC_credentials_are_refused_with_the_reason_and_change_nothing()
    {
        var account = await NewAccountAsync("Creds");
        var refused = await Should.ThrowAsync<CscRefusedException>(() =>
            fixture.Send(new RequestActivation(account.Id, new CscCredentials("csc-operator", "wrong-password"))));
        refused.Code.ShouldBe("bad_credentials");
        (await LoadAsync(account.Id)).Status.ShouldBe(AccountStatus.New);

        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new RequestActivation(account.Id, new CscCredentials("", ""))));
        (await LoadAsync(account.Id)).ActivationRequestId.ShouldBeNull();
    }

    [Fact]
    public async Task A_requested_account_waits_for_approval_then_becomes_active_with_its_licenses()
    {
        var account = await NewAccountAsync("Lab");
        (await fixture.Send(new RequestActivation(account.Id, Operator))).Status.ShouldBe(AccountStatus.Requested);

        var waiting = await SyncAsync(account.Id);
        waiting.Result.ShouldBe(SyncResult.Succeeded);
        waiting.Stage.ShouldBe("Done");
        (await LoadAsync(account.Id)).Status.ShouldBe(AccountStatus.Requested);
        (await fixture.Send(new ListLicenses(account.Id))).ShouldBeEmpty();

        await fixture.AdminAsync((await LoadAsync(account.Id)).ActivationRequestId!, "approve");
        var run = await SyncAsync(account.Id);
        run.Result.ShouldBe(SyncResult.Succeeded, run.Error);
        run.ItemsDown.ShouldBe(4);
        run.Percent.ShouldBe(100);

        var active = await LoadAsync(account.Id);
        active.Status.ShouldBe(AccountStatus.Active);
        active.TokenExpiresAt.ShouldNotBeNull().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddHours(23));
        active.LastSyncAt.ShouldNotBeNull();
        var licenses = await fixture.Send(new ListLicenses(account.Id));
        licenses.Count.ShouldBe(4);
        licenses.ShouldContain(l => l.Name == "DNA Advantage" && l.Purchased == 100 && l.Valid);
    }

    [Fact]
    public async Task A_rejected_activation_shows_the_reason_and_an_alert()
    {
        var account = await NewAccountAsync("Reject");
        await fixture.Send(new RequestActivation(account.Id, Operator));
        await fixture.AdminAsync((await LoadAsync(account.Id)).ActivationRequestId!, "reject", "no such smart account");

        var run = await SyncAsync(account.Id);
        run.Result.ShouldBe(SyncResult.Failed);
        run.Error.ShouldNotBeNull().ShouldContain("no such smart account");
        var rejected = await LoadAsync(account.Id);
        rejected.Status.ShouldBe(AccountStatus.Rejected);
        rejected.RejectionReason.ShouldBe("no such smart account");
        (await fixture.Send(new ListSyncAlerts())).ShouldContain(a => a.AccountId == account.Id && a.Message.Contains("no such smart account"));
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new SynchronizeNow(account.Id)));
    }

    [Fact]
    public async Task Uploads_are_incremental_and_counted_once_by_CSC()
    {
        var account = await ActiveAccountAsync("Upload");
        await SeedAsync(account.Id, instances: 10, usage: 12_000);

        var first = await SyncAsync(account.Id);
        first.Result.ShouldBe(SyncResult.Succeeded, first.Error);
        first.ItemsUp.ShouldBe(12_010);
        (await fixture.CountedAsync(account.CscAccountId!, account.AccessToken!)).ShouldBe((10, 12_000));

        var nothingNew = await SyncAsync(account.Id);
        nothingNew.ItemsUp.ShouldBe(0);

        await SeedAsync(account.Id, instances: 0, usage: 100);
        var incremental = await SyncAsync(account.Id);
        incremental.ItemsUp.ShouldBe(100);
        (await fixture.CountedAsync(account.CscAccountId!, account.AccessToken!)).ShouldBe((10, 12_100));
    }

    [Fact]
    public async Task A_batch_CSC_received_but_the_node_never_saw_acknowledged_is_resent_and_not_counted_twice()
    {
        var account = await ActiveAccountAsync("Resend");
        // Large enough that its body outlasts the socket buffers: CSC answers a known batch before reading it.
        await SeedAsync(account.Id, instances: 3, usage: 30_000);
        // A first run claimed a batch and sent it, and the node died before recording CSC's answer.
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        var claimed = (await UploadBatches.NextAsync(store, account.Id, 30_000, DateTimeOffset.UtcNow))!;
        claimed.Batch.Items.ShouldBe(30_000);
        var csc = fixture.Services.GetRequiredService<ICscClient>();
        var sent = await csc.UploadAsync(account.CscAccountId!, account.AccessToken!, claimed.Batch.Id, claimed.Text!.ToAsyncEnumerable(),
            resend: false, CancellationToken.None);
        sent.Accepted.ShouldBe(30_000);

        var run = await SyncAsync(account.Id);
        run.Result.ShouldBe(SyncResult.Succeeded, run.Error);
        run.ItemsUp.ShouldBe(30_003);
        (await fixture.CountedAsync(account.CscAccountId!, account.AccessToken!)).ShouldBe((3, 30_000));
        await using var check = fixture.Query();
        (await check.Query<UploadBatch>().Where(b => b.AcknowledgedAt == null).CountAsync()).ShouldBe(0);
    }

    [Fact]
    public async Task An_item_whose_transaction_is_open_during_a_claim_is_neither_skipped_nor_claimed_twice()
    {
        var account = await ActiveAccountAsync("Late");
        await SeedAsync(account.Id, instances: 1, usage: 10);
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        // A usage report still committing when the claim starts: its queue number is taken, its row not yet visible.
        var late = new UsageRecord
        {
            Id = Guid.CreateVersion7(), AccountId = account.Id, InstanceId = Guid.CreateVersion7(), ReportId = "late", Tag = "regid.2017-07.com.cisco.DNA_Advantage",
            Count = 1, From = DateTimeOffset.UtcNow.AddHours(-1), To = DateTimeOffset.UtcNow, ReceivedAt = DateTimeOffset.UtcNow,
        };
        await using var writer = new Npgsql.NpgsqlConnection(fixture.ConnectionString);
        await writer.OpenAsync();
        await using var transaction = await writer.BeginTransactionAsync();
        await using (var insert = new Npgsql.NpgsqlCommand("insert into ssm.mt_doc_usagerecord (id, data) values ($1, $2::jsonb)", writer, transaction))
        {
            insert.Parameters.AddWithValue(late.Id);
            insert.Parameters.AddWithValue(store.Options.Serializer().ToJson(late));
            await insert.ExecuteNonQueryAsync();
        }
        await SeedAsync(account.Id, instances: 0, usage: 5);

        var claiming = UploadBatches.NextAsync(store, account.Id, 1_000, DateTimeOffset.UtcNow);
        await Eventually.FoundAsync<bool>(async () =>
        {
            await using var query = fixture.Query();
            var waiting = await query.AdvancedSql.QueryAsync<long>("select count(*) from pg_locks where locktype = 'advisory' and not granted",
                CancellationToken.None);
            return waiting[0] > 0 ? true : null;
        }, TimeSpan.FromSeconds(30), "the claim did not wait for the open writer");
        claiming.IsCompleted.ShouldBeFalse();
        await transaction.CommitAsync();

        var first = (await claiming)!;
        var lines = await UploadBatches.LinesOf(store, first.Batch, first.Text).ToListAsync();
        lines.Count.ShouldBe(17);
        lines.Count(l => l.Contains(late.Id.ToString(), StringComparison.Ordinal)).ShouldBe(1);
        await UploadBatches.AcknowledgeAsync(store, first.Batch.Id, 17, 0, DateTimeOffset.UtcNow);
        (await UploadBatches.NextAsync(store, account.Id, 1_000, DateTimeOffset.UtcNow)).ShouldBeNull();
    }

    [Fact]
    public async Task CSC_stopped_mid_sync_fails_the_run_with_a_clear_reason_and_the_next_run_resumes_without_duplicates()
    {
        var account = await ActiveAccountAsync("Outage");
        // Five batches: CSC goes down while the first are on their way, well before the last (two raced on a busy runner).
        await SeedAsync(account.Id, instances: 0, usage: 100_000);
        var runner = fixture.Services.GetRequiredService<SyncRunner>();

        var started = await fixture.Send(new SynchronizeNow(account.Id));
        // Stop CSC once the first batches are on their way.
        await WaitForAsync(async () => (await fixture.Send(new ListSyncRuns())).Items.Single(r => r.Id == started.Id) is { ItemsUp: > 0 } or { Result: not SyncResult.Running });
        await fixture.RestartCscAsync(whileDown: () => runner.WaitAsync(started.Id));
        var failed = (await fixture.Send(new ListSyncRuns())).Items.Single(r => r.Id == started.Id);
        failed.Result.ShouldBe(SyncResult.Failed);
        failed.Error.ShouldNotBeNull().ShouldContain("unreachable");
        failed.ItemsUp.ShouldBeLessThan(100_000);

        var resumed = await SyncAsync(account.Id);
        resumed.Result.ShouldBe(SyncResult.Succeeded, resumed.Error);
        (await fixture.CountedAsync(account.CscAccountId!, account.AccessToken!)).ShouldBe((0, 100_000));
    }

    [Fact]
    public async Task The_scheduler_starts_a_due_run_once_and_resumes_a_run_abandoned_by_another_node()
    {
        var account = await ActiveAccountAsync("Sched");
        var schedule = await fixture.Send(new SetSyncSchedule(SyncFrequency.Interval, default, IntervalMinutes: 5));
        schedule.NextRun.ShouldNotBeNull().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(4));
        (await fixture.SendAs(CurrentUser.Node, new RunDueSync())).ShouldBeNull();

        // A moment came due while no node served it (the schedule was set 11 minutes ago, say).
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            var stored = (await session.LoadAsync<SyncSchedule>(SyncSchedule.SingletonId))!;
            stored.SetAt = stored.SetAt.AddMinutes(-11);
            stored.LastDueRun = stored.SetAt;
            session.Store(stored);
            await session.SaveChangesAsync();
        }
        var scheduled = (await fixture.SendAs(CurrentUser.Node, new RunDueSync())).ShouldNotBeNull();
        scheduled.Trigger.ShouldBe(SyncTrigger.Scheduled);
        await fixture.Services.GetRequiredService<SyncRunner>().WaitAsync(scheduled.Id);
        (await fixture.SendAs(CurrentUser.Node, new RunDueSync())).ShouldBeNull();

        // Another node was running a sync when it stopped: this one marks it interrupted and runs it again.
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Store(SyncRun.Start(SyncTrigger.Manual, account.Id, account.Name, "other-node", "alice", DateTimeOffset.UtcNow.AddMinutes(-1)));
            await session.SaveChangesAsync();
        }
        var catchUp = (await fixture.SendAs(CurrentUser.Node, new RunDueSync())).ShouldNotBeNull();
        catchUp.Trigger.ShouldBe(SyncTrigger.CatchUp);
        await fixture.Services.GetRequiredService<SyncRunner>().WaitAsync(catchUp.Id);
        var runs = (await fixture.Send(new ListSyncRuns())).Items;
        runs.ShouldContain(r => r.Node == "other-node" && r.Result == SyncResult.Interrupted);
        runs.Single(r => r.Id == catchUp.Id).Result.ShouldBe(SyncResult.Succeeded);
    }

    [Fact]
    public async Task A_new_Host_Common_Name_is_signed_by_CSC_at_the_next_sync()
    {
        var account = await ActiveAccountAsync("Cert");
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new SetHostCommonName("not a host")));
        (await fixture.Send(new GetCertificateStatus())).ShouldBeNull();

        var stale = await fixture.Send(new SetHostCommonName("127.0.0.14"));
        stale.Stale.ShouldBeTrue();
        (await SyncAsync(account.Id)).Result.ShouldBe(SyncResult.Succeeded);

        var current = (await fixture.Send(new GetCertificateStatus())).ShouldNotBeNull();
        current.Stale.ShouldBeFalse();
        current.SignedFor.ShouldBe("127.0.0.14");
        current.NotAfter.ShouldNotBeNull().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddDays(360));
        current.Issuer.ShouldBe(fixture.Csc.Root.Subject);

        (await fixture.Send(new SetHostCommonName("ssm.example.com"))).Stale.ShouldBeTrue();
    }

    [Fact]
    public async Task A_dual_stack_node_refuses_an_address_as_Host_Common_Name()
    {
        var validator = new SetHostCommonNameValidator(new FixedAddresses(DualStack: true));
        var result = await validator.ValidateAsync(new SetHostCommonName("127.0.0.14"));
        result.IsValid.ShouldBeFalse();
        result.Errors.Single().ErrorMessage.ShouldContain("fully qualified domain name");
    }

    private sealed record FixedAddresses(bool DualStack) : IHostAddresses;

    [Fact]
    public async Task A_viewer_cannot_synchronize_or_request_activation()
    {
        var account = await NewAccountAsync("Viewer");
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new SynchronizeNow()));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new RequestActivation(account.Id, Operator)));
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new SynchronizeNow(account.Id)));
    }

    private async Task SeedAsync(Guid accountId, int instances, int usage)
    {
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        var now = DateTimeOffset.UtcNow;
        var instanceIds = Enumerable.Range(0, Math.Max(1, instances)).Select(_ => Guid.CreateVersion7()).ToList();
        await store.BulkInsertDocumentsAsync(Enumerable.Range(0, instances).Select(i => new ProductInstance
        {
            // The account in the serial number: one product per UDI, whatever the account, and the tests seed several accounts.
            Id = instanceIds[i], AccountId = accountId, Pid = "C9300-24T", SerialNumber = ProductInstance.Canonical($"FOC{accountId:N}{i:D8}"),
            Name = $"sw-{i}", RegisteredAt = now,
        }).ToList());
        await store.BulkInsertDocumentsAsync(Enumerable.Range(0, usage).Select(i => new UsageRecord
        {
            Id = Guid.CreateVersion7(), AccountId = accountId, InstanceId = instanceIds[i % instanceIds.Count], ReportId = $"r-{Guid.NewGuid():N}",
            Tag = "regid.2017-07.com.cisco.DNA_Advantage", Count = 1, From = now.AddHours(-1), To = now, ReceivedAt = now,
        }).ToList());
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        // A bound against a hang, not a measure: the first 20,000-record batch took over 30 s at a load average of 20.
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!await condition())
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the condition did not come true within 120 s");
            await Task.Delay(20);
        }
    }
}
