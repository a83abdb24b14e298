using System.Security.Claims;
using System.Text.Json;
using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Backups;
using Ssm.Application.Common;
using Ssm.Application.Events;
using Ssm.Application.Notifications;
using Ssm.Domain;
using Ssm.Domain.Backups;
using Ssm.Domain.Events;
using Ssm.Domain.Notifications;
using Ssm.Domain.Users;
using Ssm.Infrastructure.Backups;
using Ssm.Infrastructure.Notifications;
using Ssm.Tests.Features.Notifications;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Backups;

/// <summary>The backup schedule, its job on the active node, retention, and who may touch any of it (decision 0037).</summary>
[Collection(CoreCollection.Name)]
public sealed class ScheduledBackupTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string Passphrase = "scheduled backup passphrase";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        if (File.Exists(fixture.BackupFolder))
            File.Delete(fixture.BackupFolder);
        if (Directory.Exists(fixture.BackupFolder))
            Directory.Delete(fixture.BackupFolder, recursive: true);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<BackupSchedule?> StoredScheduleAsync()
    {
        await using var session = fixture.Query();
        return await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId);
    }

    /// <summary>Moves the next run into the past, as the passing of an interval would.</summary>
    private async Task MakeDueAsync()
    {
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        var schedule = (await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId))!;
        schedule.NextRunAt = DateTimeOffset.UtcNow.AddSeconds(-1);
        session.Store(schedule);
        await session.SaveChangesAsync();
    }

    private Task<BackupRunDto?> RunDueAsync() => fixture.SendAs(CurrentUser.Node, new RunDueBackup());

    [Fact]
    public async Task Bad_schedules_are_refused_with_a_clear_error_and_nothing_changes()
    {
        foreach (var (command, expected) in new (SetBackupSchedule, string)[]
                 {
                     (new(true, 24, 0, Passphrase), "Keep 1–100 backups."),
                     (new(true, 0, 7, Passphrase), "The interval must be 1–744 hours."),
                     (new(true, 745, 7, Passphrase), "The interval must be 1–744 hours."),
                     (new(true, 24, 7, ""), "The passphrase must be 12–200 characters."),
                     (new(true, 24, 7, "short"), "The passphrase must be 12–200 characters."),
                 })
        {
            var error = await Should.ThrowAsync<ValidationException>(() => fixture.Send(command));
            ErrorText.Describe(error).ShouldBe(expected);
        }
        // Scheduled without any passphrase: refused by the schedule itself.
        (await Should.ThrowAsync<DomainException>(() => fixture.Send(new SetBackupSchedule(true, 24, 7)))).Message.ShouldContain("passphrase is required");
        (await StoredScheduleAsync()).ShouldBeNull();
        (await fixture.Send(new ListEvents())).Items.ShouldNotContain(e => e.Action == nameof(SetBackupSchedule) && e.Outcome == EventOutcome.Success);
    }

    [Fact]
    public async Task The_passphrase_is_stored_encrypted_and_never_shown_or_logged()
    {
        var dto = await fixture.Send(new SetBackupSchedule(true, 24, 7, Passphrase));
        dto.PassphraseSet.ShouldBeTrue();
        JsonSerializer.Serialize(await fixture.Send(new GetBackups())).ShouldNotContain(Passphrase);
        new SetBackupSchedule(true, 24, 7, Passphrase).ToString().ShouldNotContain(Passphrase);
        var stored = (await StoredScheduleAsync())!;
        stored.PassphraseProtected.ShouldNotContain(Passphrase);
        fixture.Services.GetRequiredService<ISecretProtector>().Unprotect(stored.PassphraseProtected).ShouldBe(Passphrase);
        (await fixture.Send(new ListEvents())).Items.ShouldAllBe(e => !e.Detail.Contains(Passphrase));

        // Saving without a passphrase keeps the stored one.
        await fixture.Send(new SetBackupSchedule(true, 12, 3));
        (await StoredScheduleAsync())!.PassphraseProtected.ShouldBe(stored.PassphraseProtected);
    }

    [Fact]
    public async Task A_due_backup_is_taken_by_the_job_and_the_folder_keeps_the_newest_as_many_as_the_retention()
    {
        (await fixture.Send(new SetBackupSchedule(true, 24, 2, Passphrase))).NextRunAt.ShouldNotBeNull();
        (await RunDueAsync()).ShouldBeNull(); // not due for a day

        var runs = new List<BackupRunDto>();
        for (var i = 0; i < 3; i++)
        {
            await MakeDueAsync();
            var run = (await RunDueAsync()).ShouldNotBeNull();
            (run.Result, run.Trigger, run.Node).ShouldBe((BackupResult.Succeeded, BackupTrigger.Scheduled, "test-node"), run.Error);
            run.SizeBytes.ShouldBeGreaterThan(0);
            runs.Add(run);
            (await RunDueAsync()).ShouldBeNull(); // served: the next one an interval later
        }
        (await StoredScheduleAsync())!.NextRunAt.ShouldBe(runs[^1].StartedAt.AddHours(24));

        var folder = fixture.Services.GetRequiredService<IBackupFolder>();
        folder.Names().ShouldBe([runs[1].FileName, runs[2].FileName]);
        var listed = await fixture.Send(new GetBackups());
        listed.Runs.Select(r => (r.FileName, r.Result)).ShouldBe([
            (runs[2].FileName, BackupResult.Succeeded), (runs[1].FileName, BackupResult.Succeeded), (runs[0].FileName, BackupResult.Removed)]);
        listed.Folder.ShouldBe(fixture.BackupFolder);

        // The file is the format of `ssm backup`: it opens with the passphrase, readable by the node's user only.
        var path = Path.Combine(fixture.BackupFolder, runs[2].FileName);
        if (!OperatingSystem.IsWindows())
            File.GetUnixFileMode(path).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using (var file = File.OpenRead(path))
        await using (var archive = await BackupArchive.OpenAsync(file, Passphrase, CancellationToken.None))
            (await CountAsync(archive)).ShouldBeGreaterThan(0);
        var entries = (await fixture.Send(new ListEvents())).Items;
        entries.Count(e => e.Action == BackupRunner.ScheduledAction && e.Outcome == EventOutcome.Success && e.Actor == "test-node").ShouldBe(3);
        entries.ShouldContain(e => e.Detail.Contains($"removed {runs[0].FileName}"));
    }

    private static async Task<long> CountAsync(Stream stream)
    {
        var buffer = new byte[1 << 16];
        long total = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
            total += read;
        return total;
    }

    [Fact]
    public async Task Back_up_now_needs_a_passphrase_and_then_writes_a_backup_with_it()
    {
        (await Should.ThrowAsync<ConflictException>(() => fixture.Send(new BackUpNow()))).Message.ShouldContain("Set the backup passphrase first");
        await fixture.Send(new SetBackupSchedule(false, 24, 7, Passphrase));
        var run = await fixture.Send(new BackUpNow());
        (run.Result, run.Trigger, run.StartedBy).ShouldBe((BackupResult.Succeeded, BackupTrigger.Manual, "alice"), run.Error);
        File.Exists(Path.Combine(fixture.BackupFolder, run.FileName)).ShouldBeTrue();
        (await fixture.Send(new ListEvents())).Items.ShouldContain(e => e.Action == nameof(BackUpNow) && e.Actor == "alice" && e.Outcome == EventOutcome.Success);
    }

    [Fact]
    public async Task A_failed_scheduled_backup_is_recorded_in_the_event_log_and_notifies_what_to_do()
    {
        using var receiver = new UdpSyslogReceiver();
        await fixture.Send(new SetNotificationSettings(true, "127.0.0.1", receiver.Port, SyslogTransport.Udp, "", false, "", 587, "", null, "", "", []));
        await fixture.SendAs(CurrentUser.Node, new DispatchNotifications()); // the dispatcher's first look
        var sender = ActivatorUtilities.CreateInstance<NotificationSender>(fixture.Services);
        await sender.StartAsync(CancellationToken.None);
        try
        {
            await fixture.Send(new SetBackupSchedule(true, 24, 7, Passphrase));
            // The folder cannot be made: a file stands where it should be.
            await File.WriteAllTextAsync(fixture.BackupFolder, "not a folder");
            await MakeDueAsync();
            var run = (await RunDueAsync()).ShouldNotBeNull();
            run.Result.ShouldBe(BackupResult.Failed);
            run.Error.ShouldNotBeNullOrEmpty();
            (await StoredScheduleAsync())!.NextRunAt.ShouldBe(run.StartedAt.AddHours(24)); // no retry storm: the next time as scheduled

            var entry = (await fixture.Send(new ListEvents())).Items.Single(e => e.Action == BackupRunner.ScheduledAction);
            (entry.Outcome, entry.Actor, entry.Subject).ShouldBe((EventOutcome.Failure, "test-node", run.FileName));
            (await fixture.SendAs(CurrentUser.Node, new DispatchNotifications())).ShouldBe(1);
            var line = await receiver.ReceiveAsync(Wait);
            line.ShouldContain("event=\"BackupFailed\" node=\"test-node\"");
            line.ShouldContain($"The scheduled backup {run.FileName} failed on test-node");
            line.ShouldContain("What to do: Check the backup folder's disk space and permissions");
        }
        finally
        {
            await sender.StopAsync(CancellationToken.None);
            File.Delete(fixture.BackupFolder);
        }
    }

    [Fact]
    public async Task A_run_cut_short_by_a_crash_is_marked_interrupted_and_an_unreadable_passphrase_is_a_recorded_failure()
    {
        await fixture.Send(new SetBackupSchedule(false, 24, 7, Passphrase));
        var crashed = BackupRun.Start(BackupTrigger.Scheduled, "test-node", "scheduler", BackupFileName.For(DateTimeOffset.UtcNow.AddHours(-1)),
            DateTimeOffset.UtcNow.AddHours(-1));
        var otherNode = BackupRun.Start(BackupTrigger.Scheduled, "other-node", "scheduler", BackupFileName.For(DateTimeOffset.UtcNow.AddMinutes(-1)),
            DateTimeOffset.UtcNow.AddMinutes(-1));
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Store(crashed, otherNode);
            var schedule = (await session.LoadAsync<BackupSchedule>(BackupSchedule.SingletonId))!;
            schedule.PassphraseProtected = "not-what-the-key-ring-wrote";
            session.Store(schedule);
            await session.SaveChangesAsync();
        }

        var run = await fixture.Send(new BackUpNow());
        run.Result.ShouldBe(BackupResult.Failed);
        run.Error.ShouldNotBeNullOrEmpty();
        var runs = (await fixture.Send(new GetBackups())).Runs.ToDictionary(r => r.Id);
        runs[crashed.Id].Result.ShouldBe(BackupResult.Failed);
        runs[crashed.Id].Error.ShouldBe("interrupted: the node stopped while the backup ran");
        runs[otherNode.Id].Result.ShouldBe(BackupResult.Running); // another node's run is that node's to judge
        (await fixture.Send(new ListEvents())).Items.ShouldContain(e => e.Action == nameof(BackUpNow) && e.Outcome == EventOutcome.Failure);
        Directory.Exists(fixture.BackupFolder).ShouldBeFalse();

        // With a readable passphrase again, the next backup succeeds and removes the half-written file the crash left.
        Directory.CreateDirectory(fixture.BackupFolder);
        var partial = Path.Combine(fixture.BackupFolder, crashed.FileName + ".partial");
        await File.WriteAllTextAsync(partial, "half a backup");
        var keep = Path.Combine(fixture.BackupFolder, "notes.txt");
        await File.WriteAllTextAsync(keep, "not the node's");
        await fixture.Send(new SetBackupSchedule(false, 24, 7, Passphrase));
        (await fixture.Send(new BackUpNow())).Result.ShouldBe(BackupResult.Succeeded);
        File.Exists(partial).ShouldBeFalse();
        File.Exists(keep).ShouldBeTrue();
    }

    [Fact]
    public async Task The_job_does_nothing_on_a_node_that_is_not_active_or_without_a_schedule()
    {
        (await RunDueAsync()).ShouldBeNull();
        await fixture.Send(new SetBackupSchedule(false, 24, 7, Passphrase));
        await MakeDueAsync();
        (await RunDueAsync()).ShouldBeNull(); // switched off
        Directory.Exists(fixture.BackupFolder).ShouldBeFalse();
    }

    public static TheoryData<string> Outsiders => ["viewer", "account-admin", "anonymous"];

    private static ClaimsPrincipal Outsider(string who, Guid account) => who switch
    {
        "viewer" => CurrentUser.For("vera", CurrentUser.ViewerRole),
        "account-admin" => new ClaimsPrincipal(new ClaimsIdentity([
            new Claim(ClaimTypes.Name, "dave"), new Claim(ClaimTypes.Role, CurrentUser.AccountsRole),
            new Claim(CurrentUser.GrantClaim, CurrentUser.ClaimOf(new AccountGrant(account, AccountAccess.Administrator)))], "ssm")),
        _ => new ClaimsPrincipal(new ClaimsIdentity()),
    };

    [Theory]
    [MemberData(nameof(Outsiders))]
    public async Task Nobody_but_a_system_administrator_sees_schedules_takes_or_downloads_a_backup(string who)
    {
        await fixture.Send(new SetBackupSchedule(false, 24, 7, Passphrase));
        var taken = await fixture.Send(new BackUpNow());
        var account = await fixture.Send(new Ssm.Application.Accounts.CreateAccount($"Scoped {Guid.NewGuid():N}"[..20], "", "ops@example.com"));
        var outsider = Outsider(who, account.Id);

        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(outsider, new GetBackups()));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(outsider, new SetBackupSchedule(true, 1, 100, "an attackers passphrase")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(outsider, new BackUpNow()));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(outsider, new DownloadBackup(taken.FileName)));

        var schedule = (await StoredScheduleAsync())!;
        (schedule.Enabled, schedule.Retention).ShouldBe((false, 7));
        fixture.Services.GetRequiredService<IBackupFolder>().Names().ShouldBe([taken.FileName]);
    }

    [Theory]
    [InlineData("../ssm-backup-20260101-000000-000.ssmbackup")]
    [InlineData("..")]
    [InlineData("/etc/passwd")]
    [InlineData("ssm-backup-20260101-000000-000.ssmbackup/../../../etc/passwd")]
    [InlineData("ssm-backup-20260101-000000-000.ssmbackup.partial")]
    [InlineData("ssm-backup-20260101-000000-000.ssmbackup\n")]
    public async Task A_download_of_anything_but_a_backup_name_is_refused_before_the_disk_is_touched(string name)
    {
        var error = await Should.ThrowAsync<ValidationException>(() => fixture.Send(new DownloadBackup(name)));
        ErrorText.Describe(error).ShouldContain("is not the name of a backup");
    }
}
