using Ssm.Domain;
using Ssm.Domain.Accounts;

namespace Ssm.Tests.Domain;

public sealed class AccountActivationTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static LocalAccount NewAccount() => LocalAccount.Create("TEST", "", "ops@example.com", "admin", Now);

    [Fact]
    public void An_account_goes_New_Requested_Active_and_its_token_expires()
    {
        var account = NewAccount();
        account.MarkRequested("r-1", Now);
        account.Status.ShouldBe(AccountStatus.Requested);
        account.Activate("csc-1", "token", Now.AddDays(180), Now);
        account.Status.ShouldBe(AccountStatus.Active);
        account.TokenExpired(Now.AddDays(179)).ShouldBeFalse();
        account.TokenExpired(Now.AddDays(180)).ShouldBeTrue();
        account.RenewToken("token-2", Now.AddDays(360), Now.AddDays(181));
        account.TokenExpired(Now.AddDays(181)).ShouldBeFalse();
    }

    [Fact]
    public void A_rejected_account_keeps_the_reason_and_may_be_requested_again()
    {
        var account = NewAccount();
        account.MarkRequested("r-1", Now);
        account.Reject("unknown smart account", Now);
        account.Status.ShouldBe(AccountStatus.Rejected);
        account.RejectionReason.ShouldBe("unknown smart account");
        account.MarkRequested("r-2", Now);
        account.RejectionReason.ShouldBeNull();
    }

    [Fact]
    public void An_account_that_was_never_requested_cannot_be_activated_or_rejected()
    {
        Should.Throw<DomainException>(() => NewAccount().Activate("csc-1", "token", Now.AddDays(1), Now));
        Should.Throw<DomainException>(() => NewAccount().Reject("no", Now));
    }

    [Fact]
    public void An_active_account_is_not_requested_again()
    {
        var account = NewAccount();
        account.MarkRequested("r-1", Now);
        account.Activate("csc-1", "token", Now.AddDays(1), Now);
        Should.Throw<DomainException>(() => account.MarkRequested("r-2", Now));
        account.Status.ShouldBe(AccountStatus.Active);
    }
}
