using Marten;
using FluentValidation;
using Ssm.Application.Accounts;
using Ssm.Application.Events;
using Ssm.Domain.Events;
using Microsoft.Extensions.DependencyInjection;
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

    private async Task<List<EventDto>> ExportAsync(ExportEvents query, string role = Ssm.Web.Security.CurrentUser.AdminRole)
    {
        // The sequence reads through the scope's session: enumerate it before the scope ends.
        await using var scope = fixture.Begin("alice", role);
        var rows = await scope.ServiceProvider.GetRequiredService<Mediator.ISender>().Send(query);
        var list = new List<EventDto>();
        await foreach (var row in rows)
            list.Add(row);
        return list;
    }

    [Fact]
    public async Task Export_reads_every_entry_of_the_filter_in_the_filter_s_order()
    {
        await SeedAsync();
        for (var i = 0; i < 30; i++)
            await fixture.Send(new CreateAccount($"Export {i:00}", "", "ops@example.com"));

        var accounts = await ExportAsync(new ExportEvents(Category: EventCategory.Accounts, Sort: EventSort.OldestFirst));
        accounts.Count.ShouldBe(33);
        accounts.ShouldAllBe(e => e.Category == EventCategory.Accounts);
        accounts.Select(e => e.At).ShouldBeInOrder(SortDirection.Ascending);
        accounts[^1].Subject.ShouldBe("Export 29");

        var failures = await ExportAsync(new ExportEvents(Outcome: EventOutcome.Failure), Ssm.Web.Security.CurrentUser.ViewerRole);
        failures.Select(e => e.Action).ShouldBe(["SignIn", "CreateAccount"]);
        var page = await fixture.Send(new ListEvents(Outcome: EventOutcome.Failure));
        failures.ShouldBe(page.Items);
    }

    [Fact]
    public async Task Export_is_refused_to_an_anonymous_sender_and_to_filters_outside_the_whitelist()
    {
        await SeedAsync();
        await Should.ThrowAsync<Ssm.Application.Common.ForbiddenException>(() =>
            fixture.SendAs(new System.Security.Claims.ClaimsPrincipal(), new ExportEvents()));
        await Should.ThrowAsync<ValidationException>(() => ExportAsync(new ExportEvents(Category: (EventCategory)99)));
        await Should.ThrowAsync<ValidationException>(() => ExportAsync(new ExportEvents(Sort: (EventSort)7)));
        await Should.ThrowAsync<ValidationException>(() =>
            ExportAsync(new ExportEvents(From: DateTimeOffset.UtcNow, To: DateTimeOffset.UtcNow.AddDays(-1))));
    }

    [Fact]
    public async Task Filter_values_outside_the_whitelist_are_refused()
    {
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListEvents(Category: (EventCategory)99)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListEvents(Sort: (EventSort)7)));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListEvents(From: DateTimeOffset.UtcNow, To: DateTimeOffset.UtcNow.AddDays(-1))));
    }
}
