using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Licenses;
using Ssm.Application.Sync;
using Ssm.Domain.Accounts;
using Ssm.Domain.Sync;

namespace Ssm.Tests.Features.Sync;

/// <summary>An expired CSC token is an alert the operator sees, never a silent stop; nothing is lost meanwhile.</summary>
public sealed class TokenExpiryTests(ShortTokenCscFixture fixture) : IClassFixture<ShortTokenCscFixture>, IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<SyncRunDto> SyncAsync(Guid accountId)
    {
        var run = await fixture.Send(new SynchronizeNow(accountId));
        await fixture.Services.GetRequiredService<SyncRunner>().WaitAsync(run.Id);
        return (await fixture.Send(new ListSyncRuns())).Items.Single(r => r.Id == run.Id);
    }

    [Fact]
    public async Task An_expired_token_fails_the_sync_with_an_alert_until_an_admin_re_authenticates()
    {
        var account = await fixture.Send(new CreateAccount("Expiring", "", "ops@example.com"));
        var active = await fixture.Send(new RequestActivation(account.Id, CscFixture.Operator));
        active.Status.ShouldBe(AccountStatus.Active);
        (await SyncAsync(account.Id)).Result.ShouldBe(SyncResult.Succeeded);
        (await fixture.Send(new ListLicenses(account.Id))).Count.ShouldBe(4);

        await fixture.WaitTokenExpiredAsync(account.Id);
        var failed = await SyncAsync(account.Id);
        failed.Result.ShouldBe(SyncResult.Failed);
        failed.Error.ShouldNotBeNull().ShouldContain("re-authenticate");
        var alerts = await fixture.Send(new ListSyncAlerts());
        alerts.ShouldContain(a => a.Severity == AlertSeverity.Major && a.AccountId == account.Id && a.Message.Contains("expired"));
        (await fixture.Send(new ListAccounts())).Items.Single(a => a.Id == account.Id).TokenExpired.ShouldBeTrue();
        // The licenses brought down before stay; nothing is deleted by a failed run.
        (await fixture.Send(new ListLicenses(account.Id))).Count.ShouldBe(4);

        var renewed = await fixture.Send(new RenewAccountToken(account.Id, CscFixture.Operator));
        renewed.TokenExpired.ShouldBeFalse();
        (await SyncAsync(account.Id)).Result.ShouldBe(SyncResult.Succeeded);
        (await fixture.Send(new ListSyncAlerts())).ShouldNotContain(a => a.AccountId == account.Id && a.Severity == AlertSeverity.Major);
    }

    [Fact]
    public async Task A_token_that_expires_at_CSC_before_the_node_notices_is_reported_the_same_way()
    {
        var account = await fixture.Send(new CreateAccount("Skewed", "", "ops@example.com"));
        await fixture.Send(new RequestActivation(account.Id, CscFixture.Operator));
        // The node's clock says the token is still good for an hour; CSC's says it expired.
        await using (var session = fixture.Services.GetRequiredService<Marten.IDocumentStore>().LightweightSession())
        {
            var stored = (await session.LoadAsync<LocalAccount>(account.Id))!;
            stored.TokenExpiresAt = DateTimeOffset.UtcNow.AddHours(1);
            session.Store(stored);
            await session.SaveChangesAsync(TestContext.Current.CancellationToken);
        }
        await fixture.WaitTokenExpiredAsync(account.Id);
        var failed = await SyncAsync(account.Id);
        failed.Result.ShouldBe(SyncResult.Failed);
        failed.Error.ShouldNotBeNull().ShouldContain("re-authenticate");
        (await fixture.Send(new ListSyncAlerts())).ShouldContain(a => a.AccountId == account.Id && a.Message.Contains("token") && a.Message.Contains("expired"));
        (await fixture.Send(new ListAccounts())).Items.Single(a => a.Id == account.Id).TokenExpired.ShouldBeTrue();
    }
}
