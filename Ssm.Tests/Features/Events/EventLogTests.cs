using Marten;
using FluentValidation;
using Ssm.Application.Accounts;
using Ssm.Application.Events;
using Ssm.Domain.Events;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Events;

[Collection(CoreCollection.Name)]
public sealed class EventLogTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task SeedAsync()
    {
        await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        await fixture.Send(new CreateAccount("Lab 2", "", "ops@example.com"));
        await Should.ThrowAsync<Exception>(() => fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com")));
        await fixture.Send(new Ssm.Application.Users.SignIn("nobody", "wrong-password"));
    }

    [Fact]
    public async Task Events_filter_by_type_and_outcome()
    {
        await SeedAsync();

        var accounts = await fixture.Send(new ListEvents(Category: EventCategory.Accounts));
        accounts.Total.ShouldBe(3);
        var failures = await fixture.Send(new ListEvents(Category: EventCategory.Accounts, Outcome: EventOutcome.Failure));
        failures.Items.ShouldHaveSingleItem().Detail.ShouldContain("already exists");
        var security = await fixture.Send(new ListEvents(Category: EventCategory.Security));
        security.Items.ShouldHaveSingleItem().Action.ShouldBe("SignIn");
    }

    [Fact]
    public async Task Events_filter_by_time_and_sort_both_ways()
    {
        await SeedAsync();
        var all = await fixture.Send(new ListEvents(Sort: EventSort.OldestFirst));
        all.Items.Select(e => e.At).ShouldBeInOrder(SortDirection.Ascending);
        var newest = await fixture.Send(new ListEvents());
        newest.Items.Select(e => e.At).ShouldBeInOrder(SortDirection.Descending);

        var cut = all.Items[1].At;
        var since = await fixture.Send(new ListEvents(From: cut, Sort: EventSort.OldestFirst));
        since.Items.Select(e => e.At).ShouldBe(all.Items.Skip(1).Select(e => e.At));
        var until = await fixture.Send(new ListEvents(To: cut));
        until.Total.ShouldBe(2);
    }

    [Fact]
    public async Task Events_page()
    {
        await SeedAsync();
        var page = await fixture.Send(new ListEvents(PageNumber: 2, PageSize: 3));
        page.Total.ShouldBe(4);
        page.Items.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Filter_values_outside_the_whitelist_are_refused()
    {
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListEvents(Category: (EventCategory)99)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListEvents(Sort: (EventSort)7)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListEvents(From: DateTimeOffset.UtcNow, To: DateTimeOffset.UtcNow.AddDays(-1))));
    }
}
