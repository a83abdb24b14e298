using Ssm.Domain.Certificates;

namespace Ssm.Tests.Domain;

public sealed class HostNameRulesTests
{
    [Theory]
    [InlineData("127.0.0.14")]
    [InlineData("10.1.2.3")]
    [InlineData("2001:db8::14")]
    [InlineData("ssm.example.com")]
    [InlineData("ssm-1.lab.example.com.")]
    public void Addresses_and_fully_qualified_names_are_valid_on_a_single_stack_node(string name) =>
        HostNameRules.Problem(name, dualStack: false).ShouldBeNull();

    [Theory]
    [InlineData("", "required")]
    [InlineData(" ssm.example.com", "spaces")]
    [InlineData("ssm", "not fully qualified")]
    [InlineData("ssm..example.com", "empty label")]
    [InlineData("-ssm.example.com", "not a valid host name")]
    [InlineData("ssm_1.example.com", "not a valid host name")]
    [InlineData("999.1.1.1", "not a valid one")]
    [InlineData("fe80::1", "link-local")]
    public void Other_names_are_refused_with_the_reason(string name, string reason) =>
        HostNameRules.Problem(name, dualStack: false).ShouldNotBeNull().ShouldContain(reason);

    [Theory]
    [InlineData("127.0.0.14")]
    [InlineData("2001:db8::14")]
    public void A_dual_stack_node_needs_a_name_not_an_address(string address) =>
        HostNameRules.Problem(address, dualStack: true).ShouldNotBeNull().ShouldContain("fully qualified domain name");

    [Fact]
    public void Names_are_compared_lower_case_without_the_trailing_dot() =>
        HostNameRules.Normalize("SSM.Example.COM.").ShouldBe("ssm.example.com");
}
