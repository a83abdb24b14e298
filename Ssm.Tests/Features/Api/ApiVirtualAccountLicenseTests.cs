using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Api;
using Ssm.Application.Common;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Api;

/// <summary>
/// Licenses and alerts of one virtual account through the API toolkit's use cases: in use per virtual account,
/// bought and available per local account (decision 0023), as the dashboard shows them.
/// </summary>
[Collection(CoreCollection.Name)]
public sealed class ApiVirtualAccountLicenseTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Advantage 10 bought, 3 used in DEFAULT and 1 in Lab Switches; Essentials 2 bought, 2 used in DEFAULT and 3 in Lab Switches.</summary>
    private async Task<(AccountDto Account, VirtualAccountDto Lab)> SeededAsync()
    {
        var account = await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        var lab = await fixture.Send(new CreateVirtualAccount(account.Id, "Lab Switches", ""));
        await fixture.Send(new CreateVirtualAccount(account.Id, "Empty", ""));
        await ApiSeed.LicensesAsync(fixture.Services.GetRequiredService<IDocumentStore>(), account.Id, lab.Id);
        return (account, lab);
    }

    [Fact]
    public async Task Each_virtual_account_shows_its_own_use_against_the_accounts_purchase_and_the_account_call_is_unchanged()
    {
        var (account, lab) = await SeededAsync();

        var defaults = (await fixture.Send(new ListApiVirtualAccountLicenses(account.Id, "DEFAULT"))).Licenses;
        var labs = (await fixture.Send(new ListApiVirtualAccountLicenses(account.Id, "lab switches"))).Licenses;

        defaults.ShouldBe([
            new ApiVirtualAccountLicense("DNA Advantage", ApiSeed.AdvantageTag, "In Compliance", 10, 3, 6, 4),
            new ApiVirtualAccountLicense("DNA Essentials", ApiSeed.EssentialsTag, "Out of Compliance", 2, 2, -3, 5),
        ]);
        labs.ShouldBe([
            new ApiVirtualAccountLicense("DNA Advantage", ApiSeed.AdvantageTag, "In Compliance", 10, 1, 6, 4),
            new ApiVirtualAccountLicense("DNA Essentials", ApiSeed.EssentialsTag, "Out of Compliance", 2, 3, -3, 5),
        ]);
        (await fixture.Send(new ListApiVirtualAccountLicenses(account.Id, lab.Id.ToString()))).Licenses.ShouldBe(labs);
        (await fixture.Send(new ListApiVirtualAccountLicenses(account.Id, "Empty"))).Licenses.ShouldBeEmpty();
        (await fixture.Send(new ListApiVirtualAccountLicenses(account.Id, "DEFAULT", 1))).Licenses.ShouldHaveSingleItem().License.ShouldBe("DNA Advantage");
        (await fixture.Send(new ListApiLicenses(account.Id))).Licenses.Select(l => (l.InUse, l.Available)).ShouldBe([(4, 6), (5, -3)]);
    }

    [Fact]
    public async Task A_virtual_account_using_a_license_out_of_compliance_gets_the_alert_and_one_not_using_it_does_not()
    {
        var (account, _) = await SeededAsync();

        var defaults = (await fixture.Send(new ListApiVirtualAccountAlerts(account.Id, "DEFAULT"))).Alerts.ShouldHaveSingleItem();
        var labs = (await fixture.Send(new ListApiVirtualAccountAlerts(account.Id, "Lab Switches"))).Alerts.ShouldHaveSingleItem();

        (labs.MessageType, labs.Severity, labs.Source).ShouldBe((ListApiAlertsHandler.InsufficientLicensesType, "Major", "DNA Essentials"));
        labs.Message.ShouldContain("5 in use (3 in Lab Switches), 2 purchased, 3 short");
        defaults.Message.ShouldContain("5 in use (2 in DEFAULT)");
        (await fixture.Send(new ListApiVirtualAccountAlerts(account.Id, "Empty"))).Alerts.ShouldBeEmpty();
        (await fixture.Send(new ListApiAlerts(account.Id))).Alerts.ShouldHaveSingleItem().Message.ShouldContain("5 in use, 2 purchased, 3 short");
    }

    [Fact]
    public async Task An_unknown_virtual_account_or_one_of_another_account_is_not_found_and_bad_limits_are_refused()
    {
        var (account, _) = await SeededAsync();
        var other = await fixture.Send(new CreateAccount("Lab 2", "", "ops@example.com"));
        var theirs = await fixture.Send(new CreateVirtualAccount(other.Id, "Theirs", ""));

        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new ListApiVirtualAccountLicenses(account.Id, "Nope")));
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new ListApiVirtualAccountLicenses(account.Id, "Theirs")));
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new ListApiVirtualAccountAlerts(account.Id, theirs.Id.ToString())));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListApiVirtualAccountLicenses(account.Id, "DEFAULT", -2)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListApiVirtualAccountAlerts(account.Id, "", -1)));
    }
}
