using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Certificates;
using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain;
using Ssm.Domain.Accounts;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Sync;

/// <summary>
/// Offline synchronization end to end: the node writes the request file, the real `csc-emulator offline` verb
/// turns it into CSC's response file, and the node applies that (twice: nothing changes the second time).
/// </summary>
public sealed class OfflineSyncTests(OfflineCscFixture fixture) : IClassFixture<OfflineCscFixture>, IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<string> RespondAsync(OfflineFile request)
    {
        var folder = Directory.CreateTempSubdirectory("ssm-offline-");
        try
        {
            var requestPath = Path.Combine(folder.FullName, request.FileName);
            var responsePath = Path.Combine(folder.FullName, "response.json");
            await File.WriteAllTextAsync(requestPath, request.Json);
            var (code, output) = await CscEmulatorProcess.RunAsync(CscEmulatorProcess.Password, "offline", "--request", requestPath,
                "--out", responsePath, "--csc", fixture.Csc.BaseAddress.ToString(), "--csc-root", fixture.Csc.RootPath);
            code.ShouldBe(0, output);
            return await File.ReadAllTextAsync(responsePath);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_new_account_is_activated_its_usage_counted_once_and_the_certificate_signed_by_files()
    {
        var account = await fixture.Send(new CreateAccount($"Off-{Guid.NewGuid():N}"[..12], "", "ops@example.com"));
        await fixture.Send(new SetHostCommonName("ssm.example.com"));

        // First round trip: the account is asked for, CSC approves (auto), the certificate is signed.
        var first = await fixture.Send(new CreateOfflineRequest());
        first.Accounts.ShouldBe(1);
        (await fixture.Send(new ListAccounts())).Items.Single().Status.ShouldBe(AccountStatus.Requested);
        var applied = await fixture.Send(new ApplyOfflineResponse(await RespondAsync(first)));
        (applied.Activated, applied.Entitlements, applied.CertificateSigned).ShouldBe((1, 4, true));
        (await fixture.Send(new ListAccounts())).Items.Single().Status.ShouldBe(AccountStatus.Active);
        (await fixture.Send(new ListLicenses(account.Id))).Count.ShouldBe(4);
        (await fixture.Send(new GetCertificateStatus()))!.Stale.ShouldBeFalse();

        // Second round trip: the usage recorded since goes up in the file and is acknowledged.
        await SeedUsageAsync(account.Id, 700);
        var second = await fixture.Send(new CreateOfflineRequest());
        second.Items.ShouldBe(700);
        var response = await RespondAsync(second);
        (await fixture.Send(new ApplyOfflineResponse(response))).BatchesAcknowledged.ShouldBe(1);
        var again = await fixture.Send(new ApplyOfflineResponse(response));
        (again.Activated, again.BatchesAcknowledged).ShouldBe((0, 0));

        // Nothing left to send; CSC counted the 700 once.
        (await fixture.Send(new CreateOfflineRequest())).Items.ShouldBe(0);
        await using var query = fixture.Query();
        var stored = (await query.LoadAsync<LocalAccount>(account.Id))!;
        (await fixture.CountedAsync(stored.CscAccountId!, stored.AccessToken!)).ShouldBe((0, 700));
    }

    [Fact]
    public async Task A_file_that_is_not_a_CSC_response_is_refused_and_changes_nothing()
    {
        await fixture.Send(new CreateAccount($"Bad-{Guid.NewGuid():N}"[..12], "", "ops@example.com"));
        await Should.ThrowAsync<DomainException>(() => fixture.Send(new ApplyOfflineResponse("{not json")));
        await Should.ThrowAsync<DomainException>(() => fixture.Send(new ApplyOfflineResponse(
            JsonSerializer.Serialize(new { format = "something-else/1", requestId = "o-1", accounts = Array.Empty<object>() }))));
        await Should.ThrowAsync<FluentValidation.ValidationException>(() => fixture.Send(new ApplyOfflineResponse("")));
        (await fixture.Send(new ListAccounts())).Items.Single().Status.ShouldBe(AccountStatus.New);
    }

    private async Task SeedUsageAsync(Guid accountId, int count)
    {
        var store = fixture.Services.GetRequiredService<Marten.IDocumentStore>();
        var now = DateTimeOffset.UtcNow;
        await store.BulkInsertDocumentsAsync(Enumerable.Range(0, count).Select(i => new UsageRecord
        {
            Id = Guid.CreateVersion7(), AccountId = accountId, InstanceId = Guid.Empty, ReportId = $"r-{i}",
            Tag = "regid.2017-07.com.cisco.DNA_Advantage", Count = 1, From = now.AddHours(-1), To = now, ReceivedAt = now,
        }).ToList());
    }
}
