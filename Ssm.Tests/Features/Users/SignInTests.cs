using Marten;
using FluentValidation;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Users;
using Ssm.Domain.Events;
using Ssm.Domain.Users;
using Ssm.Tests.Support;

using Ssm.Web.Security;

namespace Ssm.Tests.Features.Users;

[Collection(CoreCollection.Name)]
public sealed class SignInTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string Password = "correct horse battery";

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        await fixture.Send(new SetUserPassword("bob", Password, UserRole.Viewer));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task The_right_password_signs_in_with_the_users_role()
    {
        var result = await fixture.Send(new SignIn("Bob", Password));
        result.Succeeded.ShouldBeTrue();
        result.UserName.ShouldBe("bob");
        result.Role.ShouldBe(UserRole.Viewer);
    }

    [Fact]
    public async Task A_wrong_password_or_unknown_user_gets_the_same_message_and_is_logged()
    {
        var wrong = await fixture.Send(new SignIn("bob", "not the password"));
        var unknown = await fixture.Send(new SignIn("mallory", "whatever password"));

        wrong.Succeeded.ShouldBeFalse();
        wrong.Error.ShouldBe(unknown.Error);
        await using var session = fixture.Query();
        var failures = await session.Query<EventLogEntry>().Where(e => e.Action == "SignIn" && e.Outcome == EventOutcome.Failure).CountAsync();
        failures.ShouldBe(2);
    }

    [Fact]
    public async Task Wrong_passwords_do_not_lock_the_user_out_anywhere()
    {
        // Failures are limited per source address by the web host (LoginThrottle), so a guesser cannot lock the admin out.
        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => fixture.Send(new SignIn("bob", "not the password")))));

        (await fixture.Send(new SignIn("bob", Password))).Succeeded.ShouldBeTrue();
    }

    [Fact]
    public async Task A_session_follows_the_users_role_and_ends_when_deleted()
    {
        var signedIn = await fixture.Send(new SignIn("bob", Password));
        var state = (await fixture.SendAs(CurrentUser.Node, new CheckSession(signedIn.SessionId))).ShouldNotBeNull();
        (state.UserName, state.Role, state.SecurityStamp, state.Grants.Count, state.MustChangePassword).ShouldBe(("bob", UserRole.Viewer, signedIn.State!.SecurityStamp, 0, false));

        await fixture.Send(new SetUserPassword("bob", Password, UserRole.Admin));
        var promoted = (await fixture.SendAs(CurrentUser.Node, new CheckSession(signedIn.SessionId))).ShouldNotBeNull();
        promoted.Role.ShouldBe(UserRole.Admin);
        promoted.SecurityStamp.ShouldNotBe(signedIn.State!.SecurityStamp);

        await fixture.Send(new EndSession(signedIn.SessionId, "bob"));
        (await fixture.SendAs(CurrentUser.Node, new CheckSession(signedIn.SessionId))).ShouldBeNull();
        (await fixture.SendAs(CurrentUser.Node, new CheckSession("not-a-session"))).ShouldBeNull();
    }

    [Fact]
    public async Task A_deleted_users_sessions_end()
    {
        var signedIn = await fixture.Send(new SignIn("bob", Password));
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Delete<UserAccount>("bob");
            await session.SaveChangesAsync();
        }

        (await fixture.SendAs(CurrentUser.Node, new CheckSession(signedIn.SessionId))).ShouldBeNull();
    }

    [Fact]
    public async Task Setting_a_password_is_logged_without_the_password()
    {
        await using var session = fixture.Query();
        var entry = await session.Query<EventLogEntry>().SingleAsync(e => e.Action == nameof(SetUserPassword));
        (entry.Actor, entry.Subject, entry.Outcome).ShouldBe(("alice", "bob", EventOutcome.Success));
        entry.Detail.ShouldNotContain(Password);
    }

    [Fact]
    public async Task Passwords_are_stored_hashed()
    {
        await using var session = fixture.Query();
        var user = await session.LoadAsync<UserAccount>("bob");
        user.ShouldNotBeNull().PasswordHash.ShouldNotContain(Password);
        user.PasswordHash.Length.ShouldBeGreaterThan(40);
    }

    [Fact]
    public async Task A_short_password_is_refused_and_the_old_one_still_works()
    {
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new SetUserPassword("bob", "short", UserRole.Admin)));
        (await fixture.Send(new SignIn("bob", Password))).Role.ShouldBe(UserRole.Viewer);
    }

    [Fact]
    public async Task A_viewer_cannot_set_passwords()
    {
        await Should.ThrowAsync<Ssm.Application.Common.ForbiddenException>(() =>
            fixture.SendAs("bob", Ssm.Web.Security.CurrentUser.ViewerRole, new SetUserPassword("bob", "a much longer password", UserRole.Admin)));
        (await fixture.Send(new SignIn("bob", Password))).Role.ShouldBe(UserRole.Viewer);
    }
}
