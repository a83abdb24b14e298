using Ssm.Domain.Users;

namespace Ssm.Tests.Domain;

public sealed class UserAccountTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_new_password_or_role_changes_the_security_stamp()
    {
        var user = new UserAccount { Id = "alice" };
        user.SetPassword("hash-1", UserRole.Admin);
        var first = user.SecurityStamp;

        user.SetPassword("hash-1", UserRole.Viewer);

        first.ShouldNotBeNullOrEmpty();
        user.SecurityStamp.ShouldNotBe(first);
        user.Role.ShouldBe(UserRole.Viewer);
    }

    [Fact]
    public void A_session_has_an_unguessable_id_and_ends_after_its_lifetime()
    {
        var one = UserSession.Start("alice", Now);
        var two = UserSession.Start("alice", Now);

        one.Id.Length.ShouldBe(64);
        one.Id.ShouldNotBe(two.Id);
        one.IsExpired(Now + UserSession.MaxLifetime - TimeSpan.FromSeconds(1)).ShouldBeFalse();
        one.IsExpired(Now + UserSession.MaxLifetime).ShouldBeTrue();
    }
}
