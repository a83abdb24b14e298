using Ssm.Domain.Users;

namespace Ssm.Tests.Domain;

public sealed class UserAccountTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_fifth_failed_login_locks_the_user_out_for_five_minutes()
    {
        var user = new UserAccount { Id = "alice" };
        for (var i = 1; i < UserAccount.MaxFailedAttempts; i++)
        {
            user.RecordFailedLogin(Now);
            user.IsLockedOut(Now).ShouldBeFalse($"after {i} failures");
        }
        user.RecordFailedLogin(Now);
        user.IsLockedOut(Now).ShouldBeTrue();
        user.IsLockedOut(Now + UserAccount.LockoutDuration - TimeSpan.FromSeconds(1)).ShouldBeTrue();
        user.IsLockedOut(Now + UserAccount.LockoutDuration).ShouldBeFalse();
    }

    [Fact]
    public void A_successful_login_clears_the_failure_count()
    {
        var user = new UserAccount { Id = "alice" };
        for (var i = 1; i < UserAccount.MaxFailedAttempts; i++)
            user.RecordFailedLogin(Now);
        user.RecordSuccessfulLogin();
        user.RecordFailedLogin(Now);
        user.IsLockedOut(Now).ShouldBeFalse();
        user.FailedAttempts.ShouldBe(1);
    }
}
