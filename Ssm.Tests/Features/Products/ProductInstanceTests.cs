using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Products;
using Ssm.Domain.Events;
using Ssm.Domain.Products;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Products;

[Collection(CoreCollection.Name)]
public sealed class ProductInstanceTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<Guid> AccountAsync(string name) => (await fixture.Send(new CreateAccount(name, "", "ops@example.com"))).Id;

    [Fact]
    public async Task Instances_come_a_page_at_a_time_with_the_exact_total()
    {
        var lab = await AccountAsync("Lab");
        await fixture.StoreAsync([.. Enumerable.Range(0, 45).Select(i => ProductData.Instance(lab, $"edge-{i:D2}", "C9300-24T", $"FOC{i:D4}", i))]);

        var third = await fixture.Send(new ListProductInstances(PageNumber: 3, PageSize: 20));

        third.Total.ShouldBe(45);
        third.TotalKind.ShouldBe(TotalKind.Exact);
        third.Items.Select(r => r.Name).ShouldBe(Enumerable.Range(40, 5).Select(i => $"edge-{i:D2}"));
        third.Items.ShouldAllBe(r => r.Account == "Lab");
        (await fixture.Send(new ListProductInstances(PageNumber: 4, PageSize: 20))).Items.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(ProductSort.Name, false, "alpha,bravo,charlie")]
    [InlineData(ProductSort.Name, true, "charlie,bravo,alpha")]
    [InlineData(ProductSort.Pid, false, "charlie,alpha,bravo")]
    [InlineData(ProductSort.SerialNumber, true, "alpha,charlie,bravo")]
    [InlineData(ProductSort.RegisteredAt, false, "bravo,charlie,alpha")]
    [InlineData(ProductSort.LastContactAt, false, "alpha,charlie,bravo")]
    public async Task Instances_sort_by_the_column_asked_for(ProductSort sort, bool descending, string expected)
    {
        var lab = await AccountAsync("Lab");
        // LastContactAt runs opposite to RegisteredAt in the test data.
        await fixture.StoreAsync(
            ProductData.Instance(lab, "alpha", "ISR4331", "SN-3", minutes: 30),
            ProductData.Instance(lab, "bravo", "N9K-C93180", "SN-1", minutes: 10),
            ProductData.Instance(lab, "charlie", "C9300-24T", "SN-2", minutes: 20));

        var page = await fixture.Send(new ListProductInstances(SortBy: sort, Descending: descending));

        string.Join(",", page.Items.Select(r => r.Name)).ShouldBe(expected);
    }

    [Theory]
    [InlineData("EDGE", "edge-router-1")]
    [InlineData("isr43", "core-1")]
    [InlineData("foc-ab", "edge-router-1")]
    [InlineData("1", "edge-router-1,core-1")]
    public async Task A_search_matches_name_PID_or_serial_number_in_any_case(string search, string expected)
    {
        var lab = await AccountAsync("Lab");
        await fixture.StoreAsync(
            ProductData.Instance(lab, "edge-router-1", "C9300-24T", "FOC-AB12"),
            ProductData.Instance(lab, "core-1", "ISR4331", "FDO777"),
            ProductData.Instance(lab, "access-2", "C9200", "JAE555"));

        var page = await fixture.Send(new ListProductInstances(Search: $" {search} "));

        page.Items.Select(r => r.Name).OrderBy(n => n).ShouldBe(expected.Split(',').OrderBy(n => n));
        page.Total.ShouldBe(expected.Split(',').Length);
    }

    [Fact]
    public async Task A_search_takes_percent_and_underscore_literally()
    {
        var lab = await AccountAsync("Lab");
        await fixture.StoreAsync(ProductData.Instance(lab, "edge_1", "C9300", "A1"), ProductData.Instance(lab, "edgeX1", "C9300", "A2"));

        (await fixture.Send(new ListProductInstances(Search: "e_1"))).Items.ShouldHaveSingleItem().Name.ShouldBe("edge_1");
        (await fixture.Send(new ListProductInstances(Search: "%"))).Items.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_broad_search_stops_counting_after_a_thousand_matches()
    {
        var lab = await AccountAsync("Lab");
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await store.BulkInsertDocumentsAsync(Enumerable.Range(0, 1_005).Select(i => ProductData.Instance(lab, $"edge-{i:D4}", "C9300", $"S{i}", i)).ToList());

        var page = await fixture.Send(new ListProductInstances(Search: "edge", PageSize: 10));

        (page.Total, page.TotalKind).ShouldBe((ProductInstanceCount.SearchCountLimit, TotalKind.AtLeast));
        page.Items.Count.ShouldBe(10);
        (await fixture.Send(new ListProductInstances(Search: "edge-100"))).TotalKind.ShouldBe(TotalKind.Exact);
        // Without a search the table is small enough to count exactly.
        (await fixture.Send(new ListProductInstances())).ShouldSatisfyAllConditions(
            p => p.Total.ShouldBe(1_005), p => p.TotalKind.ShouldBe(TotalKind.Exact));
    }

    [Fact]
    public async Task The_account_filter_shows_one_account_and_counts_only_its_instances()
    {
        var lab = await AccountAsync("Lab");
        var prod = await AccountAsync("Prod");
        await fixture.StoreAsync(
            ProductData.Instance(lab, "lab-1", "C9300", "L1"),
            ProductData.Instance(prod, "prod-1", "C9300", "P1"),
            ProductData.Instance(prod, "prod-2", "C9300", "P2"));

        var page = await fixture.Send(new ListProductInstances(AccountId: prod));

        page.Items.Select(r => r.Name).ShouldBe(["prod-1", "prod-2"]);
        page.Items.ShouldAllBe(r => r.Account == "Prod");
        page.Total.ShouldBe(2);
        (await fixture.Send(new ListProductInstances(AccountId: prod, Search: "lab"))).Total.ShouldBe(0);
    }

    [Fact]
    public async Task The_search_and_sort_indexes_match_what_the_next_start_expects()
    {
        // A trigram index Weasel read back differently would be dropped and rebuilt at every start: minutes at a million rows.
        var migration = await fixture.Services.GetRequiredService<IDocumentStore>().Storage.Database.CreateMigrationAsync();
        migration.Difference.ShouldBe(Weasel.Core.SchemaPatchDifference.None, string.Join(", ", migration.Deltas.Where(d => d.Difference != Weasel.Core.SchemaPatchDifference.None).Select(d => d.SchemaObject.Identifier.ToString())));
    }

    [Theory]
    [InlineData(0, 20)]
    [InlineData(1, 0)]
    [InlineData(1, 101)]
    public async Task Paging_outside_the_rules_is_refused(int pageNumber, int pageSize)
    {
        var error = await Should.ThrowAsync<ValidationException>(() =>
            fixture.Send(new ListProductInstances(PageNumber: pageNumber, PageSize: pageSize)));
        error.Errors.ShouldContain(e => e.PropertyName == (pageNumber < 1 ? "PageNumber" : "PageSize"));
    }

    [Fact]
    public async Task The_details_of_an_instance_show_its_certificate_and_the_licenses_it_uses()
    {
        var lab = await AccountAsync("Lab");
        var instance = ProductData.Instance(lab, "edge", "C9300", "FOC1");
        await fixture.StoreAsync(instance, ProductData.Using(instance, new LicenseUse("tag.dna", 3, ProductData.Epoch.AddDays(1))));

        var details = await fixture.Send(new GetProductInstance(instance.Id));

        (details.Account, details.HostName, details.ProductType, details.CertificateNotAfter)
            .ShouldBe(("Lab", "edge.lab.example", "Router", ProductData.Epoch.AddYears(1)));
        details.Usage.ShouldHaveSingleItem().ShouldBe(new LicenseUse("tag.dna", 3, ProductData.Epoch.AddDays(1)));
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new GetProductInstance(Guid.NewGuid())));
    }

    [Fact]
    public async Task Removing_an_instance_deletes_it_logs_who_did_it_and_tells_products_and_licenses()
    {
        var lab = await AccountAsync("Lab");
        var gone = ProductData.Instance(lab, "gone", "C9300", "G1");
        var kept = ProductData.Instance(lab, "kept", "C9300", "K1");
        await fixture.StoreAsync(gone, kept);
        var topics = new List<ChangeTopic>();
        void Record(ChangeTopic topic)
        {
            lock (topics)
                topics.Add(topic);
        }
        fixture.Notifier.Changed += Record;
        try
        {
            await fixture.Send(new RemoveProductInstance(gone.Id));
        }
        finally
        {
            fixture.Notifier.Changed -= Record;
        }

        await using var session = fixture.Query();
        (await session.LoadAsync<ProductInstance>(gone.Id)).ShouldBeNull();
        (await session.LoadAsync<ProductInstance>(kept.Id)).ShouldNotBeNull();
        topics.ShouldContain(ChangeTopic.Products);
        topics.ShouldContain(ChangeTopic.Licenses);
        var entry = (await session.Query<EventLogEntry>().Where(e => e.Action == nameof(RemoveProductInstance)).ToListAsync()).ShouldHaveSingleItem();
        (entry.Actor, entry.Outcome, entry.Category).ShouldBe(("alice", EventOutcome.Success, EventCategory.Registration));
        entry.Detail.ShouldContain("C9300:G1");
    }

    [Fact]
    public async Task A_viewer_cannot_remove_an_instance_and_a_missing_one_is_not_found()
    {
        var lab = await AccountAsync("Lab");
        var instance = ProductData.Instance(lab, "edge", "C9300", "E1");
        await fixture.StoreAsync(instance);

        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new RemoveProductInstance(instance.Id)));
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new RemoveProductInstance(Guid.NewGuid())));

        await using var session = fixture.Query();
        (await session.LoadAsync<ProductInstance>(instance.Id)).ShouldNotBeNull();
    }
}
