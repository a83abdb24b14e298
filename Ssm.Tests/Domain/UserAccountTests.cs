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
    public void Grants_keep_the_stronger_access_per_account_and_only_for_a_user_limited_to_accounts()
    {
        var a = Guid.NewGuid();
        var user = new UserAccount { Id = "carol" };

        user.SetRoles(UserRole.Accounts, [new AccountGrant(a, AccountAccess.Viewer), new AccountGrant(a, AccountAccess.Administrator)]);
        user.Grants.ShouldBe([new AccountGrant(a, AccountAccess.Administrator)]);

        user.SetRoles(UserRole.Viewer, [new AccountGrant(a, AccountAccess.Viewer)]);
        user.Grants.ShouldBeEmpty();
        Should.Throw<Ssm.Domain.DomainException>(() => user.SetRoles(UserRole.Accounts, []));
        user.Role.ShouldBe(UserRole.Viewer);
    }

    [Fact]
    public void A_reset_password_must_be_changed_and_each_change_restamps()
    {
        var user = new UserAccount { Id = "carol" };
        user.SetPassword("hash-1", UserRole.Viewer);
        var stamps = new HashSet<string> { user.SecurityStamp };

        user.ResetPassword("hash-2");
        user.MustChangePassword.ShouldBeTrue();
        stamps.Add(user.SecurityStamp).ShouldBeTrue();
        user.ChangeOwnPassword("hash-3");
        user.MustChangePassword.ShouldBeFalse();
        stamps.Add(user.SecurityStamp).ShouldBeTrue();
        user.SetDisabled(true);
        stamps.Add(user.SecurityStamp).ShouldBeTrue();
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
