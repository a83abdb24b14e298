using Ssm.Domain;
using Ssm.Domain.Accounts;

namespace Ssm.Tests.Domain;

public sealed class AccountRulesTests
{
    [Theory]
    [InlineData("TEST")]
    [InlineData("Lab 1")]
    [InlineData("net-ops_2.eu")]
    [InlineData("Zürich Büro")]
    public void Names_of_letters_digits_space_dot_dash_underscore_are_valid(string name) =>
        AccountRules.IsValidName(name).ShouldBeTrue();

    [Theory]
    [InlineData("")]
    [InlineData(" leading")]
    [InlineData("trailing ")]
    [InlineData("semi;colon")]
    [InlineData("quote'")]
    [InlineData("<script>")]
    [InlineData("tab\tname")]
    public void Other_names_are_invalid(string name) => AccountRules.IsValidName(name).ShouldBeFalse();

    [Fact]
    public void A_name_of_64_characters_is_valid_and_65_is_not()
    {
        AccountRules.IsValidName(new string('a', 64)).ShouldBeTrue();
        AccountRules.IsValidName(new string('a', 65)).ShouldBeFalse();
    }

    [Fact]
    public void A_new_account_starts_as_New_with_a_case_insensitive_key()
    {
        var account = LocalAccount.Create("Lab 1", "lab", "ops@example.com", "alice", DateTimeOffset.UnixEpoch);
        account.Status.ShouldBe(AccountStatus.New);
        account.NameKey.ShouldBe(LocalAccount.Create("LAB 1", "", "ops@example.com", "bob", DateTimeOffset.UnixEpoch).NameKey);
    }

    [Fact]
    public void An_account_refuses_an_invalid_name_or_email_or_a_long_description()
    {
        Should.Throw<DomainException>(() => LocalAccount.Create("bad;name", "", "ops@example.com", "a", DateTimeOffset.UnixEpoch));
        Should.Throw<DomainException>(() => LocalAccount.Create("ok", "", "not-an-address", "a", DateTimeOffset.UnixEpoch));
        var account = LocalAccount.Create("ok", "before", "ops@example.com", "a", DateTimeOffset.UnixEpoch);
        Should.Throw<DomainException>(() => account.ChangeDescription(new string('x', AccountRules.DescriptionMaxLength + 1), DateTimeOffset.UnixEpoch));
        account.Description.ShouldBe("before");
    }
}
