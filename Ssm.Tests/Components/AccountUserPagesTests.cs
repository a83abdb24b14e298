using System.Security.Claims;
using Bunit;
using Marten;
using Microsoft.AspNetCore.Components;
using MudBlazor;
using Ssm.Application.Accounts;
using Ssm.Domain.Registration;
using Ssm.Domain.Users;
using Ssm.Tests.Support;
using Ssm.Web.Components.Pages.Accounts;
using Ssm.Web.Components.Pages.Registration;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

/// <summary>The pages as a user limited to account Alpha sees them: Beta is nowhere, and an administrator of Alpha makes its tokens.</summary>
[Collection(CoreCollection.Name)]
public sealed class AccountUserPagesTests(CoreFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private AccountDto _alpha = default!;

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        _alpha = await fixture.Send(new CreateAccount("Alpha", "", "ops@example.com"));
        var beta = await fixture.Send(new CreateAccount("Beta", "", "ops@example.com"));
        await fixture.Send(new Application.Registration.CreateRegistrationToken(beta.Id, "token of beta", 30, null, false));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private BunitContext As(AccountAccess access) => ComponentTestContext.Create(fixture, "dave", CurrentUser.AccountsRole,
        new Claim(CurrentUser.GrantClaim, CurrentUser.ClaimOf(new AccountGrant(_alpha.Id, access))));

    [Fact]
    public async Task A_viewer_of_Alpha_sees_only_Alpha_on_the_accounts_page_and_makes_no_token()
    {
        await using var context = As(AccountAccess.Viewer);
        var accounts = context.Render<Accounts>();
        accounts.WaitForAssertion(() => accounts.FindAll("[data-testid=account-row]").Select(r => r.GetAttribute("data-name")).ShouldBe(["Alpha"]), Wait);

        var tokens = context.Render<RegistrationTokens>();
        tokens.WaitForAssertion(() => tokens.Find("[data-testid=no-tokens]"), Wait);
        tokens.FindAll("[data-testid=new-token]").ShouldBeEmpty();
        tokens.Markup.ShouldNotContain("Beta");
    }

    [Fact]
    public async Task An_administrator_of_Alpha_makes_a_token_of_Alpha_on_the_tokens_page()
    {
        await using var context = As(AccountAccess.Administrator);
        var dialogs = context.Render<MudDialogProvider>();
        var cut = context.Render<RegistrationTokens>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=no-tokens]"), Wait);

        await cut.ClickAsync("new-token");
        IRenderedComponent<IComponent> dialog = dialogs;
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=create-token]"), Wait);
        dialog.Input("token-description").Change("made by dave");
        await dialogs.ClickAsync("create-token");
        dialogs.WaitForAssertion(() => dialog.Input("token-secret").GetAttribute("value")!.Length.ShouldBe(64), Wait);

        await using var session = fixture.Query();
        var made = await session.Query<RegistrationToken>().SingleAsync(t => t.Description == "made by dave");
        (made.AccountId, made.CreatedBy).ShouldBe((_alpha.Id, "dave"));
    }
}
