using Marten;
using FluentValidation;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Domain.Accounts;
using Ssm.Domain.Events;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Accounts;

[Collection(CoreCollection.Name)]
public sealed class AccountTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<int> AccountCount()
    {
        await using var session = fixture.Query();
        return await session.Query<LocalAccount>().CountAsync();
    }

    private async Task<IReadOnlyList<EventLogEntry>> Events()
    {
        await using var session = fixture.Query();
        return await session.Query<EventLogEntry>().OrderBy(e => e.At).ToListAsync();
    }

    [Fact]
    public async Task Creating_an_account_stores_it_as_New_and_logs_who_did_it()
    {
        var created = await fixture.Send(new CreateAccount("Lab 1", "first lab", "ops@example.com"));

        created.Status.ShouldBe(AccountStatus.New);
        created.CreatedBy.ShouldBe("alice");
        await using var session = fixture.Query();
        var stored = await session.LoadAsync<LocalAccount>(created.Id);
        stored.ShouldNotBeNull().Name.ShouldBe("Lab 1");
        var entry = (await Events()).ShouldHaveSingleItem();
        (entry.Actor, entry.Action, entry.Subject, entry.Outcome, entry.Category)
            .ShouldBe(("alice", nameof(CreateAccount), "Lab 1", EventOutcome.Success, EventCategory.Accounts));
    }

    [Theory]
    [InlineData("", "ops@example.com", "", "Name")]
    [InlineData("bad;name", "ops@example.com", "", "Name")]
    [InlineData("ok", "not-an-address", "", "ContactEmail")]
    [InlineData("ok", "ops@example.com", null, "Description")]
    public async Task An_invalid_account_is_refused_with_the_field_named_and_nothing_is_stored(string name, string email, string? description, string field)
    {
        description ??= new string('x', AccountRules.DescriptionMaxLength + 1);

        var error = await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateAccount(name, description, email)));

        error.Errors.ShouldContain(e => e.PropertyName == field);
        (await AccountCount()).ShouldBe(0);
        var entry = (await Events()).ShouldHaveSingleItem();
        entry.Outcome.ShouldBe(EventOutcome.Failure);
        entry.Detail.ShouldNotBeEmpty();
    }

    [Fact]
    public async Task A_missing_name_is_refused_and_its_failure_is_logged()
    {
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateAccount(null!, "", "ops@example.com")));
        (await AccountCount()).ShouldBe(0);
        (await Events()).ShouldHaveSingleItem().Outcome.ShouldBe(EventOutcome.Failure);
    }

    [Fact]
    public async Task A_name_longer_than_64_characters_is_refused()
    {
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateAccount(new string('a', 65), "", "ops@example.com")));
        (await AccountCount()).ShouldBe(0);
    }

    [Fact]
    public async Task A_duplicate_name_in_any_case_is_refused_and_the_first_account_is_untouched()
    {
        var first = await fixture.Send(new CreateAccount("Lab 1", "original", "ops@example.com"));

        var error = await Should.ThrowAsync<ConflictException>(() => fixture.Send(new CreateAccount("LAB 1", "copy", "x@example.com")));

        error.Message.ShouldContain("already exists");
        (await Events()).Last().Outcome.ShouldBe(EventOutcome.Failure);
        await using var session = fixture.Query();
        var all = await session.Query<LocalAccount>().ToListAsync();
        all.ShouldHaveSingleItem().Id.ShouldBe(first.Id);
        all[0].Description.ShouldBe("original");
    }

    [Fact]
    public async Task Two_simultaneous_creations_of_the_same_name_store_one_account()
    {
        var attempts = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            try { await fixture.Send(new CreateAccount("Race", $"attempt {i}", "ops@example.com")); return true; }
            catch (ConflictException) { return false; }
        }));

        var results = await Task.WhenAll(attempts);

        results.Count(ok => ok).ShouldBe(1);
        (await AccountCount()).ShouldBe(1);
    }

    [Fact]
    public async Task A_viewer_cannot_create_edit_or_delete()
    {
        var account = await fixture.Send(new CreateAccount("Lab 1", "original", "ops@example.com"));

        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new CreateAccount("Lab 2", "", "ops@example.com")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new UpdateAccountDescription(account.Id, "changed")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new DeleteAccount(account.Id, "Lab 1")));

        await using var session = fixture.Query();
        var all = await session.Query<LocalAccount>().ToListAsync();
        all.ShouldHaveSingleItem().Description.ShouldBe("original");
        var refused = (await Events()).Where(e => e.Actor == "victor").ToList();
        refused.Count.ShouldBe(3);
        refused.ShouldAllBe(e => e.Outcome == EventOutcome.Failure);
    }

    [Fact]
    public async Task A_viewer_can_list_accounts()
    {
        await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        var page = await fixture.SendAs("victor", CurrentUser.ViewerRole, new ListAccounts());
        page.Items.ShouldHaveSingleItem().Name.ShouldBe("Lab 1");
    }

    [Fact]
    public async Task Editing_changes_only_the_description()
    {
        var account = await fixture.Send(new CreateAccount("Lab 1", "before", "ops@example.com"));

        var updated = await fixture.Send(new UpdateAccountDescription(account.Id, "after"));

        updated.Description.ShouldBe("after");
        updated.Name.ShouldBe("Lab 1");
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new UpdateAccountDescription(Guid.NewGuid(), "x")));
        var entries = (await Events()).Where(e => e.Action == nameof(UpdateAccountDescription)).ToList();
        entries.Select(e => e.Outcome).ShouldBe([EventOutcome.Success, EventOutcome.Failure]);
        entries[0].Detail.ShouldContain("Lab 1");
    }

    [Fact]
    public async Task Deleting_needs_the_exact_name_as_confirmation()
    {
        var account = await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));

        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new DeleteAccount(account.Id, "lab 1")));
        (await AccountCount()).ShouldBe(1);

        await fixture.Send(new DeleteAccount(account.Id, "Lab 1"));
        (await AccountCount()).ShouldBe(0);
        var entries = (await Events()).Where(e => e.Action == nameof(DeleteAccount)).ToList();
        entries.Select(e => e.Outcome).ShouldBe([EventOutcome.Failure, EventOutcome.Success]);
        entries[0].Detail.ShouldContain("does not match");
    }

    [Fact]
    public async Task Listing_pages_and_searches_case_insensitively()
    {
        for (var i = 1; i <= 25; i++)
            await fixture.Send(new CreateAccount($"Site {i:00}", "", "ops@example.com"));
        await fixture.Send(new CreateAccount("Core", "", "ops@example.com"));

        var first = await fixture.Send(new ListAccounts(PageSize: 10));
        first.Total.ShouldBe(26);
        first.Items.Count.ShouldBe(10);
        first.PageCount.ShouldBe(3);
        first.Items[0].Name.ShouldBe("Core");

        var third = await fixture.Send(new ListAccounts(PageNumber: 3, PageSize: 10));
        third.Items.Count.ShouldBe(6);

        var search = await fixture.Send(new ListAccounts("site 1"));
        search.Items.Select(a => a.Name).ShouldBe(Enumerable.Range(10, 10).Select(i => $"Site {i}"));

        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new ListAccounts(PageSize: 1000)));
    }

    [Fact]
    public async Task Changes_are_announced_to_the_dashboard()
    {
        var topics = new List<ChangeTopic>();
        void Handler(ChangeTopic t) { lock (topics) topics.Add(t); }
        fixture.Notifier.Changed += Handler;
        try
        {
            await fixture.Send(new CreateAccount("Lab 1", "", "ops@example.com"));
        }
        finally
        {
            fixture.Notifier.Changed -= Handler;
        }
        topics.ShouldContain(ChangeTopic.Accounts);
    }
}
