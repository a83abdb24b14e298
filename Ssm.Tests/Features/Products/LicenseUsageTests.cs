using FluentValidation;
using Ssm.Application.Accounts;
using Ssm.Application.Dashboard;
using Ssm.Application.Licenses;
using Ssm.Domain.Products;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Products;

[Collection(CoreCollection.Name)]
public sealed class LicenseUsageTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string Dna = "regid.2017-07.com.cisco.DNA_Advantage";
    private const string Nx = "regid.2017-07.com.cisco.NX_Essentials";

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<Guid> AccountAsync(string name) => (await fixture.Send(new CreateAccount(name, "", "ops@example.com"))).Id;

    [Fact]
    public async Task Usage_per_day_sums_over_instances_the_most_each_reported_that_day()
    {
        var lab = await AccountAsync("Lab");
        var other = await AccountAsync("Other");
        var today = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero);
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        DateTimeOffset At(int day, int hour) => today.AddDays(day).AddHours(hour);
        await fixture.StoreAsync(
            // Three days ago: A reports 3 then 5 (its most is 5), B reports 2: 7.
            ProductData.Usage(lab, a, Dna, 3, At(-3, 1), At(-3, 2)),
            ProductData.Usage(lab, a, Dna, 5, At(-3, 5), At(-3, 6)),
            ProductData.Usage(lab, b, Dna, 2, At(-3, 8), At(-3, 9)),
            // A window across midnight counts on both days it overlaps: two days ago 4 + 1 (B).
            ProductData.Usage(lab, a, Dna, 4, At(-2, 22), At(-1, 2)),
            ProductData.Usage(lab, b, Dna, 1, At(-2, 3), At(-2, 4)),
            // A window ending exactly at midnight counts on its day only: yesterday 4 (A) + 9 (B).
            ProductData.Usage(lab, b, Dna, 9, At(-1, 23), At(0, 0)),
            // Another tag and another account do not count.
            ProductData.Usage(lab, a, Nx, 50, At(0, 1), At(0, 2)),
            ProductData.Usage(other, a, Dna, 70, At(0, 1), At(0, 2)),
            // Before the chart's first day.
            ProductData.Usage(lab, b, Dna, 11, At(-10, 1), At(-10, 2)));

        var usage = await fixture.Send(new LicenseUsageOverTime(lab, Dna, Days: 5));

        usage.Select(u => u.Day).ShouldBe(Enumerable.Range(-4, 5).Select(d => DateOnly.FromDateTime(today.AddDays(d).UtcDateTime)));
        usage.Select(u => u.InUse).ShouldBe([0, 7, 5, 13, 0]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(367)]
    public async Task A_chart_longer_than_a_year_or_empty_is_refused(int days) =>
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new LicenseUsageOverTime(Guid.NewGuid(), Dna, days)));

    [Fact]
    public async Task Licenses_show_purchased_in_use_balance_and_compliance()
    {
        var lab = await AccountAsync("Lab");
        var until = DateTimeOffset.UtcNow.AddHours(1);
        var a = ProductData.Instance(lab, "a", "C9300", "A1");
        var b = ProductData.Instance(lab, "b", "C9300", "B1");
        await fixture.StoreAsync(
            ProductData.Bought(lab, Dna, "DNA Advantage", 10),
            ProductData.Bought(lab, Nx, "NX Essentials", 2),
            a, ProductData.Using(a, new LicenseUse(Dna, 4, until), new LicenseUse(Nx, 2, until)),
            b, ProductData.Using(b, new LicenseUse(Dna, 3, until), new LicenseUse(Nx, 1, until)));

        var licenses = await fixture.Send(new ListLicenses(lab));

        var dna = licenses.Single(l => l.Tag == Dna);
        (dna.Purchased, dna.InUse, dna.Available, dna.StatusText).ShouldBe((10, 7, 3, "In Compliance"));
        var nx = licenses.Single(l => l.Tag == Nx);
        (nx.Purchased, nx.InUse, nx.Available, nx.StatusText).ShouldBe((2, 3, -1, "Out of Compliance"));
    }

    [Fact]
    public async Task The_dashboard_counts_instances_licenses_in_use_and_those_out_of_compliance()
    {
        var lab = await AccountAsync("Lab");
        var prod = await AccountAsync("Prod");
        var until = DateTimeOffset.UtcNow.AddHours(1);
        var a = ProductData.Instance(lab, "a", "C9300", "A1");
        var b = ProductData.Instance(prod, "b", "C9300", "B1");
        await fixture.StoreAsync(
            ProductData.Bought(lab, Dna, "DNA Advantage", 10),
            ProductData.Bought(prod, Dna, "DNA Advantage", 1),
            a, ProductData.Using(a, new LicenseUse(Dna, 4, until)),
            b, ProductData.Using(b, new LicenseUse(Dna, 3, until), new LicenseUse(Nx, 1, until)),
            ProductData.Instance(prod, "c", "C9300", "C1"));

        var summary = await fixture.Send(new GetDashboardSummary());

        (summary.ProductInstances, summary.ProductInstancesEstimated).ShouldBe((3, false));
        summary.LicensesInUse.ShouldBe(8);
        // Prod uses 3 of 1 DNA and 1 NX it never bought.
        summary.LicensesOutOfCompliance.ShouldBe(2);
        summary.Accounts.ShouldBe(2);
    }
}
