using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Events;
using Ssm.Application.Products;
using Ssm.Application.Sync;
using Ssm.Domain.Events;
using Ssm.Domain.Products;
using Ssm.Domain.Sync;
using Ssm.Tests.Features.Products;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Paging;

/// <summary>Keyset paging (decision 0034) of Product Instances, the Event Log and the sync history.</summary>
[Collection(CoreCollection.Name)]
public sealed class SeekPagingTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<Guid> AccountAsync(string name) => (await fixture.Send(new CreateAccount(name, "", "ops@example.com"))).Id;

    /// <summary>
    /// 23 products where every sort key has ties (names, PIDs and times repeat) and times differ in the last digit
    /// of their ticks, below PostgreSQL's microsecond: the id has to break the ties and the cursor has to compare as
    /// the index does.
    /// </summary>
    private async Task<List<ProductInstance>> TiedProductsAsync(Guid account)
    {
        var products = Enumerable.Range(0, 23).Select(i =>
        {
            var p = ProductData.Instance(account, $"edge-{i % 4}", i % 3 == 0 ? "ISR4331" : "C9300-24T", $"FOC{i % 5:D4}-{i}", 0);
            p.LastContactAt = ProductData.Epoch.AddTicks(1_234_565 + i % 6);
            return p;
        }).ToList();
        await fixture.StoreAsync([.. products]);
        return products;
    }

    private async Task<List<ProductInstancePage>> WalkForwardAsync(ListProductInstances first)
    {
        var pages = new List<ProductInstancePage> { await fixture.Send(first) };
        while (pages[^1].Next is { } next && pages.Count < 50)
            pages.Add(await fixture.Send(first with { PageNumber = pages[^1].PageNumber + 1, After = next }));
        return pages;
    }

    [Theory]
    [InlineData(ProductSort.Name, false)]
    [InlineData(ProductSort.Name, true)]
    [InlineData(ProductSort.Pid, false)]
    [InlineData(ProductSort.Pid, true)]
    [InlineData(ProductSort.SerialNumber, false)]
    [InlineData(ProductSort.RegisteredAt, false)]
    [InlineData(ProductSort.RegisteredAt, true)]
    [InlineData(ProductSort.LastContactAt, false)]
    [InlineData(ProductSort.LastContactAt, true)]
    public async Task Pages_come_in_order_forward_and_back_without_duplicates_or_gaps(ProductSort sort, bool descending)
    {
        var lab = await AccountAsync("Lab");
        await TiedProductsAsync(lab);
        // The order of one page holding them all is the order every walk has to reproduce.
        var all = (await fixture.Send(new ListProductInstances(SortBy: sort, Descending: descending, PageSize: 100))).Items.Select(r => r.Id).ToList();
        all.Count.ShouldBe(23);

        var forward = await WalkForwardAsync(new ListProductInstances(SortBy: sort, Descending: descending, PageSize: 5));

        forward.Select(p => p.PageNumber).ShouldBe([1, 2, 3, 4, 5]);
        forward.SelectMany(p => p.Items).Select(r => r.Id).ShouldBe(all);
        forward[0].Previous.ShouldBeNull();
        forward[^1].Next.ShouldBeNull();
        forward[^1].Items.Count.ShouldBe(3);

        // From the last page back to the first, by each page's Previous.
        var last = await fixture.Send(new ListProductInstances(SortBy: sort, Descending: descending, PageSize: 5, PageNumber: 5, Last: true));
        var backward = new List<ProductInstancePage> { last };
        while (backward[^1].Previous is { } previous && backward.Count < 50)
            backward.Add(await fixture.Send(new ListProductInstances(SortBy: sort, Descending: descending, PageSize: 5,
                PageNumber: backward[^1].PageNumber - 1, Before: previous)));
        last.Next.ShouldBeNull();
        last.Items.Select(r => r.Id).ShouldBe(all[^5..]);
        backward.AsEnumerable().Reverse().SelectMany(p => p.Items).Select(r => r.Id).ShouldBe(all);
        backward[^1].PageNumber.ShouldBe(1);
        backward[^1].Items.Count.ShouldBe(3);

        // A page's Next and Previous lead back to each other.
        var third = await fixture.Send(new ListProductInstances(SortBy: sort, Descending: descending, PageSize: 5, PageNumber: 3, After: forward[1].Next));
        var second = await fixture.Send(new ListProductInstances(SortBy: sort, Descending: descending, PageSize: 5, PageNumber: 2, Before: third.Previous));
        second.Items.Select(r => r.Id).ShouldBe(forward[1].Items.Select(r => r.Id));
        (second.PageNumber, third.PageNumber).ShouldBe((2, 3));
    }

    [Fact]
    public async Task Rows_registered_between_page_requests_neither_repeat_nor_push_rows_out()
    {
        var lab = await AccountAsync("Lab");
        var before = Enumerable.Range(0, 30).Select(i => ProductData.Instance(lab, $"m-{i:D2}", "C9300-24T", $"FOC{i:D4}", i)).ToList();
        await fixture.StoreAsync([.. before]);
        var seen = new List<Guid>();
        var page = await fixture.Send(new ListProductInstances(PageSize: 10));
        seen.AddRange(page.Items.Select(r => r.Id));
        var added = 0;
        while (page.Next is { } next)
        {
            // Between requests products register that sort before the page shown, inside it and after it.
            await fixture.StoreAsync(
                ProductData.Instance(lab, $"a-{added}", "C9300-24T", $"NEW{added}A", 0),
                ProductData.Instance(lab, $"m-{page.PageNumber * 10 - 5:D2}x{added}", "C9300-24T", $"NEW{added}M", 0),
                ProductData.Instance(lab, $"z-{added}", "C9300-24T", $"NEW{added}Z", 0));
            added++;
            page = await fixture.Send(new ListProductInstances(PageSize: 10, PageNumber: page.PageNumber + 1, After: next));
            seen.AddRange(page.Items.Select(r => r.Id));
        }

        seen.ShouldBeUnique();
        before.Select(p => p.Id).ShouldBeSubsetOf(seen); // no gap: every product there from the start was shown once
        var names = (await fixture.Send(new ListProductInstances(PageSize: 100))).Items.Select(r => r.Name).ToList();
        seen.Count.ShouldBeGreaterThan(30); // the ones added after the cursor came along too
        names.Count.ShouldBe(30 + 3 * added);
    }

    [Fact]
    public async Task Filters_and_search_page_together_and_the_page_says_which_of_how_many_it_is()
    {
        var lab = await AccountAsync("Lab");
        var prod = await AccountAsync("Prod");
        await fixture.StoreAsync([
            .. Enumerable.Range(0, 12).Select(i => ProductData.Instance(lab, $"edge-{i:D2}", "C9300-24T", $"FOC{i:D4}", i)),
            .. Enumerable.Range(0, 12).Select(i => ProductData.Instance(lab, $"core-{i:D2}", "ISR4331", $"FDO{i:D4}", i)),
            .. Enumerable.Range(0, 12).Select(i => ProductData.Instance(prod, $"edge-p{i:D2}", "C9300-24T", $"JAE{i:D4}", i)),
        ]);

        var query = new ListProductInstances(AccountId: lab, Search: "edge", SortBy: ProductSort.SerialNumber, Descending: true, PageSize: 5);
        var pages = await WalkForwardAsync(query);

        pages.Select(p => (p.PageNumber, p.Total)).ShouldBe([(1, 12L), (2, 12L), (3, 12L)]);
        pages.SelectMany(p => p.Items).Select(r => r.SerialNumber)
            .ShouldBe(Enumerable.Range(0, 12).Reverse().Select(i => $"FOC{i:D4}"));
        var last = await fixture.Send(query with { PageNumber = 3, Last = true });
        last.Items.Select(r => r.SerialNumber).ShouldBe(["FOC0004", "FOC0003", "FOC0002", "FOC0001", "FOC0000"]);
        last.Next.ShouldBeNull();
    }

    [Fact]
    public async Task A_cursor_that_is_not_one_handed_out_or_two_directions_at_once_are_refused()
    {
        var lab = await AccountAsync("Lab");
        await fixture.StoreAsync([.. Enumerable.Range(0, 3).Select(i => ProductData.Instance(lab, $"e-{i}", "C9300-24T", $"FOC{i}", i))]);
        var next = (await fixture.Send(new ListProductInstances(PageSize: 1))).Next.ShouldNotBeNull();

        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListProductInstances(After: "not a cursor")));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListProductInstances(After: "') or 1=1 --")));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListProductInstances(After: next, Before: next)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListProductInstances(After: next, Last: true)));
        // A cursor of the name sort has one key; the PID sort seeks by two.
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListProductInstances(SortBy: ProductSort.Pid, After: next)));
        // Values are bound, never spliced: a key full of SQL is just a name to seek after.
        var sql = new PageCursor(["x' or '1'='1"], Guid.Empty).Encode();
        (await fixture.Send(new ListProductInstances(After: sql))).Items.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(EventSort.NewestFirst)]
    [InlineData(EventSort.OldestFirst)]
    public async Task The_event_log_pages_by_time_with_ties_in_order_forward_and_back(EventSort sort)
    {
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var entries = Enumerable.Range(0, 17).Select(i => EventLogEntry.Record(at.AddTicks(i / 3), "alice",
            i % 4 == 0 ? EventCategory.Security : EventCategory.Accounts, "Test", $"e{i}", EventOutcome.Success)).ToList();
        foreach (var e in entries)
            e.Id = Guid.NewGuid(); // the same instant, ids in no particular order
        await fixture.StoreAsync([.. entries]);
        var all = (await fixture.Send(new ListEvents(Sort: sort, PageSize: 100))).Items.Select(e => e.Subject).ToList();
        all.Count.ShouldBe(17);

        var pages = new List<Page<EventDto>> { await fixture.Send(new ListEvents(Sort: sort, PageSize: 4)) };
        while (pages[^1].Next is { } next && pages.Count < 20)
            pages.Add(await fixture.Send(new ListEvents(Sort: sort, PageSize: 4, PageNumber: pages[^1].PageNumber + 1, After: next)));

        pages.SelectMany(p => p.Items).Select(e => e.Subject).ShouldBe(all);
        pages.Select(p => p.PageNumber).ShouldBe([1, 2, 3, 4, 5]);
        pages[0].PageCount.ShouldBe(5);
        var last = await fixture.Send(new ListEvents(Sort: sort, PageSize: 4, PageNumber: 5, Last: true));
        last.Items.Select(e => e.Subject).ShouldBe(all[^4..]);
        var before = await fixture.Send(new ListEvents(Sort: sort, PageSize: 4, PageNumber: 4, Before: last.Previous));
        before.Items.Select(e => e.Subject).ShouldBe(all[^8..^4]);

        // A filter pages the same way.
        var security = await fixture.Send(new ListEvents(Category: EventCategory.Security, Sort: sort, PageSize: 2));
        var rest = await fixture.Send(new ListEvents(Category: EventCategory.Security, Sort: sort, PageSize: 10, PageNumber: 2, After: security.Next));
        security.Items.Concat(rest.Items).Select(e => e.Subject)
            .ShouldBe(all.Where(s => int.Parse(s[1..]) % 4 == 0));
        security.Total.ShouldBe(5);
    }

    [Fact]
    public async Task The_sync_history_pages_newest_first()
    {
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var runs = Enumerable.Range(0, 7).Select(i => SyncRun.Start(SyncTrigger.Manual, null, "all", "node-a", "alice", at.AddMinutes(i % 3))).ToList();
        await fixture.StoreAsync([.. runs]);
        var all = (await fixture.Send(new ListSyncRuns(PageSize: 100))).Items.Select(r => r.Id).ToList();

        var first = await fixture.Send(new ListSyncRuns(PageSize: 3));
        var second = await fixture.Send(new ListSyncRuns(2, 3, After: first.Next));
        var third = await fixture.Send(new ListSyncRuns(3, 3, After: second.Next));

        first.Items.Concat(second.Items).Concat(third.Items).Select(r => r.Id).ShouldBe(all);
        all.Select(id => runs.Single(r => r.Id == id).StartedAt).ShouldBeInOrder(SortDirection.Descending);
        third.Next.ShouldBeNull();
        (first.PageCount, third.PageNumber).ShouldBe((3, 3));
    }
}
