using Marten;
using FluentValidation;
using Ssm.Application.Users;
using Ssm.Domain.Events;
using Ssm.Domain.Users;
using Ssm.Tests.Support;

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
    public async Task Five_wrong_passwords_lock_the_user_out_even_for_the_right_password()
    {
        for (var i = 0; i < UserAccount.MaxFailedAttempts; i++)
            (await fixture.Send(new SignIn("bob", "not the password"))).Succeeded.ShouldBeFalse();

        var result = await fixture.Send(new SignIn("bob", Password));

        result.Succeeded.ShouldBeFalse();
        result.Error.ShouldContain("locked out");
    }

    [Fact]
    public async Task Wrong_passwords_sent_in_parallel_all_count_toward_the_lockout()
    {
        await Task.WhenAll(Enumerable.Range(0, 2 * UserAccount.MaxFailedAttempts)
            .Select(_ => Task.Run(() => fixture.Send(new SignIn("bob", "not the password")))));

        (await fixture.Send(new SignIn("bob", Password))).Error.ShouldContain("locked out");
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
