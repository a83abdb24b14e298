using System.Security.Claims;
using FluentValidation;
using Marten;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Users;
using Ssm.Domain.Events;
using Ssm.Domain.Users;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Users;

/// <summary>Access Management: users, roles with account grants, disabling, deleting, resets and the password policy.</summary>
[Collection(CoreCollection.Name)]
public sealed class UserManagementTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string First = "first-password-from-alice";
    private const string Own = "carols very own passphrase";
    private AccountDto _a = default!;

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        // The signed-in admin is a stored user, so the node keeps a system administrator whatever the test does.
        await fixture.Send(new SetUserPassword("alice", "alices long password", UserRole.Admin));
        _a = await fixture.Send(new CreateAccount("Alpha", "", "ops@example.com"));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The principal the session cookie gives a signed-in user, as SessionCookie builds it.</summary>
    private async Task<ClaimsPrincipal> SignedInAsync(string userName, string password)
    {
        var result = await fixture.Send(new SignIn(userName, password));
        result.Succeeded.ShouldBeTrue(result.Error);
        return SessionCookie.PrincipalOf(result.State!, result.SessionId);
    }

    private async Task<IReadOnlyList<EventLogEntry>> EntriesAsync(string action)
    {
        await using var session = fixture.Query();
        return await session.Query<EventLogEntry>().Where(e => e.Action == action).ToListAsync();
    }

    [Fact]
    public async Task A_created_user_is_logged_and_must_choose_a_password_before_anything_else()
    {
        var created = await fixture.Send(new CreateUser("Carol", First, UserRole.Accounts, [new AccountGrant(_a.Id, AccountAccess.Viewer)]));
        created.ShouldBe(created with { UserName = "carol", Role = UserRole.Accounts, MustChangePassword = true, Disabled = false });
        created.Grants.ShouldHaveSingleItem().ShouldBe(new UserGrantDto(_a.Id, "Alpha", AccountAccess.Viewer));

        var carol = await SignedInAsync("carol", First);
        var refused = await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(carol, new ListAccounts()));
        refused.Message.ShouldContain("new password");

        await fixture.SendAs(carol, new ChangeOwnPassword(First, Own));
        var again = await SignedInAsync("carol", Own);
        (await fixture.SendAs(again, new ListAccounts())).Items.ShouldHaveSingleItem().Id.ShouldBe(_a.Id);
        (await fixture.Send(new SignIn("carol", First))).Succeeded.ShouldBeFalse();

        var entry = (await EntriesAsync(nameof(CreateUser))).ShouldHaveSingleItem();
        (entry.Actor, entry.Subject, entry.Outcome, entry.Category).ShouldBe(("alice", "Carol", EventOutcome.Success, EventCategory.Security));
        entry.Detail.ShouldContain("account viewer");
        entry.Detail.ShouldNotContain(First);
        (await EntriesAsync(nameof(ChangeOwnPassword))).ShouldHaveSingleItem().Actor.ShouldBe("carol");
    }

    [Theory]
    [InlineData("short pw", "12 to 128 characters")]
    [InlineData("Carol2024!", "12 to 128 characters")]
    [InlineData("carol-carol-2024", "")]
    [InlineData("CAROL1234567!", "not be the user name")]
    [InlineData("password1234", "most common")]
    [InlineData("Qwerty123456", "most common")]
    public async Task The_password_policy_refuses_short_user_name_and_common_passwords_and_nothing_is_stored(string password, string message)
    {
        if (message.Length == 0)
        {
            // A password that merely contains the name twice is not the name itself: accepted.
            await fixture.Send(new CreateUser("carol", password, UserRole.Viewer));
            return;
        }
        var refused = await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateUser("carol", password, UserRole.Viewer)));
        refused.Message.ShouldContain(message);
        await using var session = fixture.Query();
        (await session.LoadAsync<UserAccount>("carol")).ShouldBeNull();
        (await EntriesAsync(nameof(CreateUser))).ShouldHaveSingleItem().Outcome.ShouldBe(EventOutcome.Failure);
    }

    [Fact]
    public void The_common_password_list_is_embedded_and_large()
    {
        PasswordPolicy.IsCommon("123456").ShouldBeTrue();
        PasswordPolicy.IsCommon("PASSWORD1234").ShouldBeTrue();
        PasswordPolicy.IsCommon("admin-password-for-tests").ShouldBeFalse();
        var listed = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "../../../../Ssm.Application/Users/common-passwords.txt"))
            .Count(l => l.Length > 0 && !l.StartsWith('#'));
        listed.ShouldBeGreaterThan(300);
    }

    [Fact]
    public async Task A_user_name_is_taken_once_and_grants_name_existing_accounts()
    {
        await fixture.Send(new CreateUser("carol", First, UserRole.Viewer));
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new CreateUser("CAROL", First, UserRole.Admin)));
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new SetUserRoles("carol", UserRole.Accounts, [new AccountGrant(Guid.NewGuid(), AccountAccess.Viewer)])));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new SetUserRoles("carol", UserRole.Accounts, [])));
        (await fixture.Send(new ListUsers())).Single(u => u.UserName == "carol").Role.ShouldBe(UserRole.Viewer);
    }

    [Fact]
    public async Task Setting_roles_changes_the_signed_in_session_and_is_logged_with_before_and_after()
    {
        await fixture.Send(new CreateUser("carol", First, UserRole.Viewer));
        var signedIn = await fixture.Send(new SignIn("carol", First));

        await fixture.Send(new SetUserRoles("carol", UserRole.Accounts, [new AccountGrant(_a.Id, AccountAccess.Administrator)]));

        var state = (await fixture.SendAs(CurrentUser.Node, new CheckSession(signedIn.SessionId))).ShouldNotBeNull();
        state.Role.ShouldBe(UserRole.Accounts);
        state.Grants.ShouldBe([new AccountGrant(_a.Id, AccountAccess.Administrator)]);
        state.SecurityStamp.ShouldNotBe(signedIn.State!.SecurityStamp);
        var entry = (await EntriesAsync(nameof(SetUserRoles))).ShouldHaveSingleItem();
        entry.Detail.ShouldBe($"was viewer of all accounts; now account administrator of {_a.Id}");
    }

    [Fact]
    public async Task A_disabled_user_cannot_sign_in_and_their_session_ends_until_enabled()
    {
        await fixture.Send(new CreateUser("carol", First, UserRole.Viewer));
        var signedIn = await fixture.Send(new SignIn("carol", First));

        await fixture.Send(new SetUserDisabled("carol", true));

        (await fixture.SendAs(CurrentUser.Node, new CheckSession(signedIn.SessionId))).ShouldBeNull();
        var refused = await fixture.Send(new SignIn("carol", First));
        (refused.Succeeded, refused.Error).ShouldBe((false, SignInHandler.UserDisabled));
        // A wrong password is told apart from a disabled user by nobody.
        (await fixture.Send(new SignIn("carol", "a wrong password here"))).Error.ShouldBe(SignInHandler.WrongCredentials);

        await fixture.Send(new SetUserDisabled("carol", false));
        (await fixture.Send(new SignIn("carol", First))).Succeeded.ShouldBeTrue();
        (await EntriesAsync(nameof(SetUserDisabled))).Select(e => e.Detail).Order().ShouldBe(["disabled", "enabled"]);
    }

    [Fact]
    public async Task A_deleted_user_and_their_sessions_are_gone()
    {
        await fixture.Send(new CreateUser("carol", First, UserRole.Viewer));
        var signedIn = await fixture.Send(new SignIn("carol", First));

        await fixture.Send(new DeleteUser("carol"));

        (await fixture.SendAs(CurrentUser.Node, new CheckSession(signedIn.SessionId))).ShouldBeNull();
        await using var session = fixture.Query();
        (await session.Query<UserSession>().CountAsync(s => s.UserName == "carol")).ShouldBe(0);
        (await fixture.Send(new ListUsers())).Select(u => u.UserName).ShouldBe(["alice"]);
        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new DeleteUser("carol")));
        (await EntriesAsync(nameof(DeleteUser))).Select(e => e.Outcome).Order().ShouldBe([EventOutcome.Success, EventOutcome.Failure]);
    }

    [Fact]
    public async Task A_reset_password_works_once_then_the_user_must_choose_their_own()
    {
        await fixture.Send(new CreateUser("carol", First, UserRole.Viewer));
        await fixture.SendAs(await SignedInAsync("carol", First), new ChangeOwnPassword(First, Own));

        await fixture.Send(new ResetUserPassword("carol", "temporary password 1"));

        (await fixture.Send(new SignIn("carol", Own))).Succeeded.ShouldBeFalse();
        var carol = await SignedInAsync("carol", "temporary password 1");
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(carol, new Ssm.Application.Licenses.ListLicenses()));
        await Should.ThrowAsync<ValidationException>(() => fixture.SendAs(carol, new ChangeOwnPassword("temporary password 1", "carol")));
        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(carol, new ChangeOwnPassword("not the current one", "another fine passphrase")));
        await fixture.SendAs(carol, new ChangeOwnPassword("temporary password 1", "another fine passphrase"));

        var user = (await fixture.Send(new ListUsers())).Single(u => u.UserName == "carol");
        user.MustChangePassword.ShouldBeFalse();
        var reset = (await EntriesAsync(nameof(ResetUserPassword))).ShouldHaveSingleItem();
        reset.Detail.ShouldNotContain("temporary");
    }

    [Fact]
    public async Task The_last_enabled_system_administrator_cannot_be_disabled_demoted_or_deleted()
    {
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new SetUserDisabled("alice", true)));
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new SetUserRoles("alice", UserRole.Viewer)));
        await Should.ThrowAsync<ConflictException>(() => fixture.Send(new DeleteUser("alice")));

        await fixture.Send(new CreateUser("bob", First, UserRole.Admin));
        await fixture.Send(new SetUserDisabled("alice", true));
        (await fixture.Send(new ListUsers())).Single(u => u.UserName == "alice").Disabled.ShouldBeTrue();
    }

    [Fact]
    public async Task Only_a_system_administrator_manages_users()
    {
        await fixture.Send(new CreateUser("carol", First, UserRole.Accounts, [new AccountGrant(_a.Id, AccountAccess.Administrator)]));
        var accountAdmin = SessionCookie.PrincipalOf(
            new SessionState("carol", UserRole.Accounts, "s", [new AccountGrant(_a.Id, AccountAccess.Administrator)], false), "sid");
        var viewer = CurrentUser.For("victor", CurrentUser.ViewerRole);

        foreach (var principal in new[] { accountAdmin, viewer })
        {
            await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(principal, new ListUsers()));
            await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(principal, new CreateUser("mallory", First, UserRole.Admin)));
            await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(principal, new SetUserRoles("carol", UserRole.Admin)));
            await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(principal, new ResetUserPassword("alice", "mallorys new password")));
            await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(principal, new SetUserDisabled("alice", true)));
            await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(principal, new DeleteUser("alice")));
        }
        (await fixture.Send(new ListUsers())).Select(u => (u.UserName, u.Role, u.Disabled)).ShouldBe([("alice", UserRole.Admin, false), ("carol", UserRole.Accounts, false)]);
    }

    [Fact]
    public async Task Deleting_an_account_takes_its_grants_away()
    {
        var b = await fixture.Send(new CreateAccount("Beta", "", "ops@example.com"));
        await fixture.Send(new CreateUser("carol", First, UserRole.Accounts, [new AccountGrant(_a.Id, AccountAccess.Viewer), new AccountGrant(b.Id, AccountAccess.Viewer)]));

        await fixture.Send(new DeleteAccount(b.Id, "Beta"));

        (await fixture.Send(new ListUsers())).Single(u => u.UserName == "carol").Grants.Select(g => g.AccountId).ShouldBe([_a.Id]);
    }
}
