using Bunit;
using Marten;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Api;
using Ssm.Application.Common;
using Ssm.Application.Registration;
using Ssm.Domain.Events;
using Ssm.Domain.Registration;
using Ssm.Tests.Support;
using Ssm.Web.Security;
using TokensPage = Ssm.Web.Components.Pages.Registration.RegistrationTokens;

namespace Ssm.Tests.Components;

/// <summary>
/// A valid token's text shown again on the Registration Tokens page, as SSM does: to admins, who may read token texts
/// through the API toolkit too, and never to a viewer, whom the toolkit's token list refuses (decision 0024).
/// </summary>
[Collection(CoreCollection.Name)]
public sealed class RegistrationTokenShowTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<(Guid Account, CreatedRegistrationToken Token)> TokenAsync(string description = "rollout")
    {
        var account = (await fixture.Send(new CreateAccount("Lab", "", "ops@example.com"))).Id;
        return (account, await fixture.Send(new CreateRegistrationToken(account, description, 30, null, false)));
    }

    private static string RowSelector(CreatedRegistrationToken token) => $"[data-testid=token-row][data-prefix='{token.Token.Prefix}']";

    [Fact]
    public async Task An_admin_shows_copies_and_hides_a_valid_tokens_text_and_the_showing_is_in_the_event_log_without_it()
    {
        var (_, created) = await TokenAsync();
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var clipboard = context.JSInterop.SetupVoid("navigator.clipboard.writeText", _ => true);
        clipboard.SetVoidResult();
        var cut = context.Render<TokensPage>();
        IRenderedComponent<IComponent> page = cut;
        cut.WaitForAssertion(() => cut.Find(RowSelector(created)), Wait);
        cut.Markup.ShouldNotContain(created.Secret);

        await cut.ClickAsync("show-token");

        cut.WaitForAssertion(() => page.Input("shown-token-text").GetAttribute("value").ShouldBe(created.Secret), Wait);
        await cut.ClickAsync("copy-shown-token");
        cut.WaitForAssertion(() => cut.Find("[data-testid=shown-token-copied]"), Wait);
        clipboard.Invocations.ShouldHaveSingleItem().Arguments.ShouldHaveSingleItem().ShouldBe(created.Secret);
        await using (var session = fixture.Query())
        {
            var entry = await session.Query<EventLogEntry>().Where(e => e.Action == nameof(ShowRegistrationToken)).SingleAsync();
            (entry.Actor, entry.Category, entry.Outcome).ShouldBe(("alice", EventCategory.Security, EventOutcome.Success));
            entry.Detail.ShouldContain(created.Token.Prefix);
            entry.Detail.ShouldNotContain(created.Secret);
        }

        await cut.ClickAsync("hide-token");
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=shown-token]").ShouldBeEmpty(), Wait);
        cut.Markup.ShouldNotContain(created.Secret);
    }

    [Fact]
    public async Task A_shown_token_disappears_when_it_is_revoked_and_a_revoked_token_offers_no_show()
    {
        var (_, created) = await TokenAsync();
        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<TokensPage>();
        await cut.ClickAsync("show-token");
        cut.WaitForAssertion(() => cut.Find("[data-testid=shown-token]"), Wait);

        await cut.ClickAsync("revoke-token");
        cut.WaitForElement("[data-testid=revoke-confirmation]", Wait);
        await cut.ClickAsync("confirm-revoke");

        cut.WaitForAssertion(() =>
        {
            cut.Find("[data-testid=token-row]").GetAttribute("data-status").ShouldBe("Revoked");
            cut.FindAll("[data-testid=shown-token]").ShouldBeEmpty();
            cut.FindAll("[data-testid=show-token]").ShouldBeEmpty();
        }, Wait);
        cut.Markup.ShouldNotContain(created.Secret);
    }

    [Fact]
    public async Task A_viewer_gets_no_show_button_and_the_command_refuses_a_viewer_and_an_api_client()
    {
        var (account, created) = await TokenAsync();
        await using var context = ComponentTestContext.Create(fixture, "victor", CurrentUser.ViewerRole);

        var cut = context.Render<TokensPage>();

        cut.WaitForAssertion(() => cut.Find(RowSelector(created)).GetAttribute("data-status").ShouldBe("Active"), Wait);
        cut.FindAll("[data-testid=show-token]").ShouldBeEmpty();
        cut.Markup.ShouldNotContain(created.Secret);
        // The page follows the rule the command enforces: a viewer who sends it anyway is refused, as the toolkit refuses him.
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new ShowRegistrationToken(created.Token.Id)));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs("victor", CurrentUser.ViewerRole, new ListApiRegistrationTokens(account, "DEFAULT")));
        // An API client reads texts through the toolkit's list of its own account, not through this dashboard command.
        var client = await fixture.Send(new CreateApiClient(account, "ansible"));
        var caller = ApiTokenAuthentication.PrincipalOf(new ApiCaller(client.Client.ClientId, "ansible", account, "Lab"));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(caller, new ShowRegistrationToken(created.Token.Id)));
        await using var session = fixture.Query();
        (await session.Query<EventLogEntry>().CountAsync(e => e.Action == nameof(ShowRegistrationToken) && e.Outcome == EventOutcome.Success)).ShouldBe(0);
    }

    [Fact]
    public async Task Only_a_valid_token_with_a_kept_text_is_shown()
    {
        var (_, revoked) = await TokenAsync();
        await fixture.Send(new RevokeRegistrationToken(revoked.Token.Id));
        var older = await fixture.Send(new CreateRegistrationToken(revoked.Token.AccountId, "before 0024", 30, null, false));
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            // A token made before token texts were kept has its hash only.
            var stored = await session.LoadAsync<RegistrationToken>(older.Token.Id);
            stored!.SealedValue = null;
            session.Store(stored);
            await session.SaveChangesAsync();
        }

        (await Should.ThrowAsync<ConflictException>(() => fixture.Send(new ShowRegistrationToken(revoked.Token.Id)))).Message.ShouldContain("revoked");
        (await Should.ThrowAsync<ConflictException>(() => fixture.Send(new ShowRegistrationToken(older.Token.Id)))).Message.ShouldContain("cannot be shown");
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new ShowRegistrationToken(Guid.NewGuid())));

        await using var context = ComponentTestContext.Create(fixture, "alice", CurrentUser.AdminRole);
        var cut = context.Render<TokensPage>();
        cut.WaitForAssertion(() => cut.FindAll("[data-testid=token-row]").Count.ShouldBe(2), Wait);
        cut.FindAll("[data-testid=show-token]").ShouldBeEmpty();
    }
}
