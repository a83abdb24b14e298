using Ssm.Application.Ha;

namespace Ssm.Tests.Domain;

public sealed class HaOptionsTests
{
    private static IEnumerable<string> Errors(HaOptions options) =>
        new HaOptionsValidator().Validate(options).Errors.Select(e => e.ErrorMessage);

    [Fact]
    public void The_defaults_keep_one_writer() => Errors(new HaOptions()).ShouldBeEmpty();

    [Fact]
    public void A_failover_timeout_shorter_than_three_heartbeats_is_refused_with_the_reason() =>
        Errors(new HaOptions { HeartbeatIntervalMs = 500, FailoverTimeoutMs = 1000 })
            .ShouldContain(e => e.Contains("fences itself before its lease expires"));

    [Fact]
    public void The_active_fences_two_heartbeats_before_the_lease_can_expire()
    {
        var options = new HaOptions { HeartbeatIntervalMs = 200, FailoverTimeoutMs = 1000 };
        options.FenceAfter.ShouldBe(TimeSpan.FromMilliseconds(600));
    }

    [Theory]
    [InlineData("bogus")]
    [InlineData("")]
    public void An_unknown_VIP_provider_is_refused(string provider) =>
        Errors(new HaOptions { VipProvider = provider }).ShouldContain(e => e.Contains("loopback, ip or external"));

    [Fact]
    public void The_ip_provider_needs_an_interface() =>
        Errors(new HaOptions { VipProvider = "ip" }).ShouldContain(e => e.Contains("VipInterface"));
}
