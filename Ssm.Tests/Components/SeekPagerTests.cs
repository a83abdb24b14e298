using Bunit;
using Ssm.Application.Accounts;
using Ssm.Domain.Events;
using Ssm.Tests.Features.Products;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Events;
using Ssm.Web.Components.Pages.Products;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

/// <summary>The pages of keyset-paged lists (decision 0034) move a page at a time or to either end and say which page of how many they show.</summary>
[Collection(CoreCollection.Name)]
public sealed class SeekPagerTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    // MudTablePager's buttons, in order: first, previous, next, last.
    private const string TablePager = ".mud-table-pagination-actions button";

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static string[] Names(IRenderedComponent<ProductInstances> cut) =>
        cut.FindAll("[data-testid=product-row]").Select(r => r.GetAttribute("data-name")!).ToArray();

    [Fact]
    public async Task The_product_instances_page_moves_next_last_and_back_showing_page_N_of_M()
    {
        var lab = (await fixture.Send(new CreateAccount("Lab", "", "ops@example.com"))).Id;
        await fixture.StoreAsync([.. Enumerable.Range(0, 45).Select(i => ProductData.Instance(lab, $"edge-{i:D2}", "C9300-24T", $"FOC{i:D4}", i))]);
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.ViewerRole);
        var cut = context.Render<ProductInstances>();
        cut.WaitForAssertion(() =>
        {
            Names(cut).ShouldBe(Enumerable.Range(0, 20).Select(i => $"edge-{i:D2}"));
            cut.Find("[data-testid=product-page]").TextContent.ShouldBe("Page 1 of 3");
        }, Wait);

        await cut.ClickSelectorAsync(TablePager, 2);
        cut.WaitForAssertion(() =>
        {
            Names(cut).ShouldBe(Enumerable.Range(20, 20).Select(i => $"edge-{i:D2}"));
            cut.Find("[data-testid=product-page]").TextContent.ShouldBe("Page 2 of 3");
        }, Wait);

        await cut.ClickSelectorAsync(TablePager, 0);
        cut.WaitForAssertion(() => cut.Find("[data-testid=product-page]").TextContent.ShouldBe("Page 1 of 3"), Wait);

        // The last page is the last 20 rows, read from the end (next from page 2 would be rows 40-44, as page 3).
        await cut.ClickSelectorAsync(TablePager, 3);
        cut.WaitForAssertion(() =>
        {
            Names(cut).ShouldBe(Enumerable.Range(25, 20).Select(i => $"edge-{i:D2}"));
            cut.Find("[data-testid=product-page]").TextContent.ShouldBe("Page 3 of 3");
        }, Wait);

        await cut.ClickSelectorAsync(TablePager, 1);
        cut.WaitForAssertion(() =>
        {
            Names(cut).ShouldBe(Enumerable.Range(5, 20).Select(i => $"edge-{i:D2}"));
            cut.Find("[data-testid=product-page]").TextContent.ShouldBe("Page 2 of 3");
        }, Wait);

        // A search starts again on its first page.
        IRenderedComponent<Microsoft.AspNetCore.Components.IComponent> page = cut;
        page.Input("product-search").Input("edge-4");
        cut.WaitForAssertion(() =>
        {
            Names(cut).ShouldBe(Enumerable.Range(40, 5).Select(i => $"edge-{i:D2}"));
            cut.Find("[data-testid=product-page]").TextContent.ShouldBe("Page 1 of 1");
        }, Wait);
    }

    [Fact]
    public async Task The_event_log_moves_next_last_and_first_showing_page_N_of_M()
    {
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        await fixture.StoreAsync([.. Enumerable.Range(0, 60).Select(i =>
            EventLogEntry.Record(at.AddMinutes(i), "alice", EventCategory.Accounts, "Test", $"entry-{i:D2}", EventOutcome.Success))]);
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.ViewerRole);
        var cut = context.Render<EventLog>();
        string Page() => cut.Find("[data-testid=pager-page]").TextContent;
        cut.WaitForAssertion(() =>
        {
            Page().ShouldBe("Page 1 of 3");
            cut.Markup.ShouldContain("entry-59");
            cut.Find("[data-testid=pager-previous]").HasAttribute("disabled").ShouldBeTrue();
        }, Wait);

        await cut.ClickAsync("pager-next");
        cut.WaitForAssertion(() =>
        {
            Page().ShouldBe("Page 2 of 3");
            cut.Markup.ShouldContain("entry-34");
            cut.Markup.ShouldNotContain("entry-35");
            cut.Markup.ShouldNotContain("entry-09");
        }, Wait);

        await cut.ClickAsync("pager-last");
        cut.WaitForAssertion(() =>
        {
            Page().ShouldBe("Page 3 of 3");
            cut.Markup.ShouldContain("entry-00");
            cut.Find("[data-testid=pager-next]").HasAttribute("disabled").ShouldBeTrue();
        }, Wait);

        await cut.ClickAsync("pager-previous");
        cut.WaitForAssertion(() =>
        {
            Page().ShouldBe("Page 2 of 3");
            cut.Markup.ShouldContain("entry-25");
            cut.Markup.ShouldNotContain("entry-24");
        }, Wait);

        await cut.ClickAsync("pager-first");
        cut.WaitForAssertion(() => Page().ShouldBe("Page 1 of 3"), Wait);
    }
}
