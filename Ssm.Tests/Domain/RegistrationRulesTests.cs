using System.Security.Cryptography;
using Ssm.Domain;
using Ssm.Domain.Licenses;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Tests.Domain;

public sealed class RegistrationRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_later_window_replaces_the_usage_of_its_tag_and_an_earlier_one_does_not()
    {
        var usage = new ProductUsage();
        usage.Merge([new LicenseUse("dna", 3, Now), new LicenseUse("nx", 1, Now)], Now);
        usage.Merge([new LicenseUse("dna", 5, Now.AddHours(1)), new LicenseUse("nx", 9, Now.AddHours(-1))], Now.AddHours(1));

        usage.Usage.ShouldBe([new LicenseUse("dna", 5, Now.AddHours(1)), new LicenseUse("nx", 1, Now)]);
        usage.LastReportAt.ShouldBe(Now.AddHours(1));
    }

    [Fact]
    public void A_token_is_active_until_it_expires_is_revoked_or_is_used_up()
    {
        var (token, secret) = RegistrationToken.Create(Guid.NewGuid(), Guid.NewGuid(), "rollout", 30, maxUses: 2, allowExportControlled: false, "alice", Now);

        RegistrationToken.HashOf(secret).ShouldBe(token.SecretHash);
        token.StatusAt(Now).ShouldBe(TokenStatus.Active);
        token.StatusAt(Now.AddDays(30)).ShouldBe(TokenStatus.Expired);
        Should.Throw<RegistrationException>(() => token.EnsureUsable(exportControlled: true, Now)).Code
            .ShouldBe(RegistrationErrorCode.ExportControlNotAllowed);
        token.Uses = 2;
        token.StatusAt(Now).ShouldBe(TokenStatus.UsedUp);
        token.Revoke("bob", Now);
        token.StatusAt(Now).ShouldBe(TokenStatus.Revoked);
        Should.Throw<DomainException>(() => token.Revoke("bob", Now));
        Should.Throw<DomainException>(() => RegistrationToken.Create(Guid.NewGuid(), Guid.NewGuid(), "", 0, null, false, "alice", Now));
    }

    [Fact]
    public void A_signature_holds_only_for_the_same_key_time_host_and_body()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var spki = key.ExportSubjectPublicKeyInfo();
        var time = Now.ToUnixTimeSeconds();
        var signature = RequestSignature.Sign(key, time, "ssm.example.com", "{}"u8);

        RequestSignature.Verify(spki, time, "SSM.example.com", "{}"u8, signature, Now);
        Should.Throw<RegistrationException>(() => RequestSignature.Verify(spki, time, "other.example.com", "{}"u8, signature, Now))
            .Code.ShouldBe(RegistrationErrorCode.SignatureInvalid);
        Should.Throw<RegistrationException>(() => RequestSignature.Verify(spki, time, "ssm.example.com", "{ }"u8, signature, Now))
            .Code.ShouldBe(RegistrationErrorCode.SignatureInvalid);
        Should.Throw<RegistrationException>(() => RequestSignature.Verify(spki, time, "ssm.example.com", "{}"u8, signature, Now.AddMinutes(6)))
            .Code.ShouldBe(RegistrationErrorCode.ClockSkew);
    }

    [Theory]
    [InlineData(10, 7, 3, ComplianceStatus.InCompliance)]
    [InlineData(10, 10, 0, ComplianceStatus.InCompliance)]
    [InlineData(2, 3, -1, ComplianceStatus.OutOfCompliance)]
    public void The_balance_is_purchased_minus_in_use_and_compliance_follows_it(int purchased, int inUse, int available, ComplianceStatus status)
    {
        var balance = new LicenseBalance("dna", purchased, inUse);
        (balance.Available, balance.Status).ShouldBe((available, status));
    }
}
