using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FluentValidation;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Licenses;
using Ssm.Application.Registration;
using Ssm.Domain.Certificates;
using Ssm.Domain.Licenses;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Registration;

/// <summary>Registration tokens and the Smart Transport requests, through the mediator on real PostgreSQL.</summary>
[Collection(CoreCollection.Name)]
public sealed class RegistrationTests(CoreFixture fixture) : IAsyncLifetime
{
    private const string Host = "ssm.example.test";
    private const string Tag = "regid.2017-03.com.cisco.DNA_Advantage";

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetAsync();
        await SetCertificateAsync(Host, signedFor: Host);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task SetCertificateAsync(string name, string? signedFor)
    {
        await using var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession();
        session.Store(new ServerCertificate
        {
            HostCommonName = name,
            SignedFor = signedFor,
            CertificatePem = signedFor is null ? null : "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
        });
        await session.SaveChangesAsync();
        fixture.Notifier.Publish(ChangeTopic.Certificates); // as the commands that change it do
    }

    private async Task<AccountDto> AccountAsync(string name = "Lab") =>
        await fixture.Send(new CreateAccount(name, "", "ops@example.com"));

    private async Task<CreatedRegistrationToken> TokenAsync(Guid accountId, int? maxUses = null, int days = 30, bool exportControlled = false) =>
        await fixture.Send(new CreateRegistrationToken(accountId, "rollout", days, maxUses, exportControlled));

    private sealed record Product(Guid InstanceId, ECDsa Key, ProductRegistered Registered);

    private static RegisterProduct Registration(string token, string serial, ECDsa key, string host = Host, bool force = false) =>
        new(host, token, "C9300-24T", serial, $"switch-{serial}", "switch", $"sw-{serial}",
            new CertificateRequest($"CN={serial}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem(), null, false, force);

    private async Task<Product> RegisterAsync(string token, string serial)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var registered = await fixture.Send(Registration(token, serial, key));
        return new Product(registered.InstanceId, key, registered);
    }

    private static SignedRequest Sign(Product product, string body, DateTimeOffset? at = null, string host = Host)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var time = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds();
        return new SignedRequest(product.InstanceId, time, RequestSignature.Sign(product.Key, time, host, bytes), bytes);
    }

    private Task<UsageAccepted> ReportAsync(Product product, string reportId, int count, string tag = Tag)
    {
        var now = DateTimeOffset.UtcNow;
        return fixture.Send(new ReportUsage(Host, Sign(product, $"report {reportId}"), [new UsageReport(reportId, tag, count, now.AddHours(-1), now)]));
    }

    private async Task<(int Instances, int Usage)> CountsAsync()
    {
        await using var session = fixture.Query();
        return (await session.Query<ProductInstance>().CountAsync(), await session.Query<UsageRecord>().CountAsync());
    }

    private static async Task<RegistrationErrorCode> RefusedAsync(Func<Task> action) =>
        (await Should.ThrowAsync<RegistrationException>(action)).Code;

    [Fact]
    public async Task A_token_is_shown_once_and_stored_only_as_its_hash()
    {
        var account = await AccountAsync();
        var created = await TokenAsync(account.Id, maxUses: 2);

        created.Secret.Length.ShouldBeGreaterThan(40);
        created.Token.UsesLeft.ShouldBe(2);
        await using var session = fixture.Query();
        var stored = await session.AdvancedSql.QueryAsync<string>("select data::text from ssm.mt_doc_registrationtoken", CancellationToken.None);
        stored.ShouldHaveSingleItem().ShouldNotContain(created.Secret);
        stored[0].ShouldContain(RegistrationToken.HashOf(created.Secret));
        (await fixture.Send(new ListRegistrationTokens(account.Id))).ShouldHaveSingleItem().Status.ShouldBe(TokenStatus.Active);
    }

    [Fact]
    public async Task A_product_and_its_usage_join_the_virtual_account_of_its_token()
    {
        var account = await AccountAsync();
        var lab = Ssm.Domain.Accounts.VirtualAccount.Create(account.Id, "Lab", "", "test", DateTimeOffset.UtcNow);
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.Store(lab);
            await session.SaveChangesAsync();
        }
        var labToken = await fixture.Send(new CreateRegistrationToken(account.Id, "lab", 30, null, false, lab.Id));
        var defaultToken = await TokenAsync(account.Id);

        var inLab = await RegisterAsync(labToken.Secret, "LAB1");
        var inDefault = await RegisterAsync(defaultToken.Secret, "DEF1");
        await ReportAsync(inLab, "r1", 2);

        await using var query = fixture.Query();
        (await query.LoadAsync<ProductInstance>(inLab.InstanceId))!.VirtualAccountId.ShouldBe(lab.Id);
        (await query.LoadAsync<ProductUsage>(inLab.InstanceId))!.VirtualAccountId.ShouldBe(lab.Id);
        (await query.LoadAsync<ProductInstance>(inDefault.InstanceId))!.VirtualAccountId.ShouldBe(account.Id);
    }

    [Fact]
    public async Task A_token_for_a_virtual_account_of_another_account_is_refused()
    {
        var account = await AccountAsync();
        var other = await AccountAsync("Other");

        await Should.ThrowAsync<NotFoundException>(() => fixture.Send(new CreateRegistrationToken(account.Id, "x", 30, null, false, other.Id)));

        await using var query = fixture.Query();
        (await query.Query<RegistrationToken>().CountAsync()).ShouldBe(0);
    }

    [Fact]
    public async Task A_product_registers_and_gets_an_ID_certificate_signed_by_the_product_CA()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var product = await RegisterAsync(token.Secret, "FOC0001");

        using var certificate = X509Certificate2.CreateFromPem(product.Registered.IdCertificate);
        using var ca = X509Certificate2.CreateFromPem(product.Registered.CaCertificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.Build(certificate).ShouldBeTrue(string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));
        certificate.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().ShouldBe(product.Key.ExportSubjectPublicKeyInfo());
        (certificate.NotAfter - DateTime.UtcNow).TotalDays.ShouldBeInRange(364, 366);
        new DateTimeOffset(certificate.NotAfter.ToUniversalTime()).ShouldBe(product.Registered.NotAfter);
        certificate.Version.ShouldBe(3);
        certificate.SignatureAlgorithm.Value.ShouldBe("1.2.840.10045.4.3.2");
        certificate.Issuer.ShouldBe(ca.Subject);
        certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false).ShouldBe("C9300-24T:FOC0001");
        certificate.SubjectName.EnumerateRelativeDistinguishedNames().Select(n => n.GetSingleElementValue())
            .ShouldBe(["SSM On-Prem product", "C9300-24T:FOC0001", product.InstanceId.ToString()]);
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().ShouldHaveSingleItem().CertificateAuthority.ShouldBeFalse();
        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().ShouldHaveSingleItem();
        (usage.Critical, usage.KeyUsages).ShouldBe((true, X509KeyUsageFlags.DigitalSignature));
        certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().ShouldHaveSingleItem().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value)
            .ShouldBe(["1.3.6.1.5.5.7.3.2"]);
        product.Registered.Account.ShouldBe("Lab");

        await using var session = fixture.Query();
        var instance = (await session.LoadAsync<ProductInstance>(product.InstanceId)).ShouldNotBeNull();
        instance.Udi.ShouldBe("C9300-24T:FOC0001");
        instance.AccountId.ShouldBe(account.Id);
        instance.CertificateSerial.ShouldBe(certificate.SerialNumber);
        instance.CertificateNotAfter.ShouldBe(product.Registered.NotAfter);
    }

    [Fact]
    public async Task A_token_that_just_registered_a_product_is_refused_at_once_when_it_is_revoked_or_its_account_deleted()
    {
        // The node keeps unlimited tokens for a second between registrations; a change on the node must not wait for that.
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        await RegisterAsync(token.Secret, "FOC0101");
        await fixture.Send(new RevokeRegistrationToken(token.Token.Id));
        (await RefusedAsync(() => RegisterAsync(token.Secret, "FOC0102"))).ShouldBe(RegistrationErrorCode.TokenRevoked);

        var branch = await AccountAsync("Branch");
        var other = await TokenAsync(branch.Id);
        await RegisterAsync(other.Secret, "FOC0103");
        await fixture.Send(new DeleteAccount(branch.Id, "Branch"));
        (await RefusedAsync(() => RegisterAsync(other.Secret, "FOC0104"))).ShouldBe(RegistrationErrorCode.AccountNotActive);
        (await CountsAsync()).Instances.ShouldBe(2);
    }

    [Fact]
    public async Task Registrations_committed_together_fail_alone_when_their_UDI_is_taken()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        await RegisterAsync(token.Secret, "FOC0200");
        var commits = fixture.Services.GetRequiredService<RegistrationCommits>();
        var together = commits.CommittedTogether;
        // 40 at once, so that the node commits several in one transaction; two of them name a UDI that is taken by then.
        var serials = Enumerable.Range(201, 38).Select(i => $"FOC0{i}").Concat(["FOC0200", "FOC0201"]).ToArray();
        var outcomes = await Task.WhenAll(serials.Select(async serial =>
        {
            try
            {
                await RegisterAsync(token.Secret, serial);
                return (RegistrationErrorCode?)null;
            }
            catch (RegistrationException ex)
            {
                return ex.Code;
            }
        }));

        outcomes.Count(o => o is null).ShouldBe(38);
        outcomes.Count(o => o == RegistrationErrorCode.DuplicateProduct).ShouldBe(2);
        (await CountsAsync()).Instances.ShouldBe(39);
        (commits.CommittedTogether - together).ShouldBeGreaterThan(1, "some of the 40 were committed in one transaction");
        // A batch is written with one COPY: the documents read back as written, and the sync outbox's statement
        // trigger queued each instance once (none of the refused batch's).
        await using var session = fixture.Query();
        var stored = await session.Query<ProductInstance>().Where(p => p.AccountId == account.Id).ToListAsync();
        stored.Select(p => p.Udi).Order().ShouldBe(Enumerable.Range(200, 39).Select(i => $"C9300-24T:FOC0{i}").Order());
        stored.ShouldAllBe(p => p.TokenId == token.Token.Id && p.PublicKey.Length > 0 && p.CertificateSerial.Length > 0);
        (await ScalarAsync($"select count(*) * 1000 + count(distinct item_id) from ssm.sync_outbox where account_id = '{account.Id}'"))
            .ShouldBe(39_039);
    }

    [Fact]
    public async Task Reports_of_one_product_at_the_same_moment_all_count_in_its_usage()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var product = await RegisterAsync(token.Secret, "FOC0300");
        var tags = Enumerable.Range(1, 8).Select(i => $"regid.2026-01.com.example.Tag{i}").ToArray();

        // Eight at once, each of another license: every one reads the same usage, and each merge must survive.
        await Task.WhenAll(tags.Select((tag, i) => ReportAsync(product, $"r-{i}", i + 1, tag)));

        await using var session = fixture.Query();
        var usage = (await session.LoadAsync<ProductUsage>(product.InstanceId)).ShouldNotBeNull();
        usage.Usage.Select(u => (u.Tag, u.Count)).OrderBy(u => u.Tag).ShouldBe(tags.Select((tag, i) => (tag, i + 1)));
        (await CountsAsync()).Usage.ShouldBe(8);
        (await RefusedAsync(() => ReportAsync(product, "r-3", 4, tags[3]))).ShouldBe(RegistrationErrorCode.ReportReplayed);
    }

    [Fact]
    public async Task Unknown_expired_revoked_and_used_up_tokens_are_refused_and_nothing_is_written()
    {
        var account = await AccountAsync();
        (await RefusedAsync(() => RegisterAsync("no-such-token", "FOC0002"))).ShouldBe(RegistrationErrorCode.TokenUnknown);

        var revoked = await TokenAsync(account.Id);
        await fixture.Send(new RevokeRegistrationToken(revoked.Token.Id));
        (await RefusedAsync(() => RegisterAsync(revoked.Secret, "FOC0002"))).ShouldBe(RegistrationErrorCode.TokenRevoked);

        var once = await TokenAsync(account.Id, maxUses: 1);
        await RegisterAsync(once.Secret, "FOC0003");
        (await RefusedAsync(() => RegisterAsync(once.Secret, "FOC0004"))).ShouldBe(RegistrationErrorCode.TokenUsedUp);

        var expired = await TokenAsync(account.Id);
        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            var token = (await session.LoadAsync<RegistrationToken>(expired.Token.Id))!;
            token.ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(-1);
            session.Store(token);
            await session.SaveChangesAsync();
        }
        (await RefusedAsync(() => RegisterAsync(expired.Secret, "FOC0005"))).ShouldBe(RegistrationErrorCode.TokenExpired);

        (await CountsAsync()).ShouldBe((1, 0));
        var tokens = await fixture.Send(new ListRegistrationTokens(account.Id));
        tokens.Single(t => t.Id == once.Token.Id).ShouldSatisfyAllConditions(t => t.Status.ShouldBe(TokenStatus.UsedUp), t => t.UsesLeft.ShouldBe(0));
    }

    [Fact]
    public async Task A_limited_token_registers_exactly_its_number_of_products_under_concurrency()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id, maxUses: 5);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            try
            {
                await RegisterAsync(token.Secret, $"FOC1{i:000}");
                return "ok";
            }
            catch (RegistrationException refused)
            {
                return refused.Code.ToString();
            }
        }));

        attempts.Count(a => a == "ok").ShouldBe(5, string.Join(",", attempts));
        attempts.Where(a => a != "ok").ShouldAllBe(a => a == nameof(RegistrationErrorCode.TokenUsedUp));
        (await CountsAsync()).Instances.ShouldBe(5);
    }

    [Fact]
    public async Task A_duplicate_UDI_is_refused_unless_forced_and_force_replaces_the_registration()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var first = await RegisterAsync(token.Secret, "FOC0006");

        (await RefusedAsync(() => RegisterAsync(token.Secret, "foc0006"))).ShouldBe(RegistrationErrorCode.DuplicateProduct);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var replaced = await fixture.Send(Registration(token.Secret, "FOC0006", key, force: true));

        replaced.InstanceId.ShouldNotBe(first.InstanceId);
        await using var session = fixture.Query();
        (await session.Query<ProductInstance>().Where(p => p.Pid == "C9300-24T" && p.SerialNumber == "FOC0006").Select(p => p.Id).ToListAsync())
            .ShouldHaveSingleItem().ShouldBe(replaced.InstanceId);
        (await RefusedAsync(() => ReportAsync(first, "r-old", 1))).ShouldBe(RegistrationErrorCode.NotRegistered);
    }

    [Fact]
    public async Task A_forced_registration_cannot_take_the_UDI_of_another_accounts_product()
    {
        var a = await AccountAsync("Lab A");
        var b = await AccountAsync("Lab B");
        var tokenA = await TokenAsync(a.Id);
        var tokenB = await TokenAsync(b.Id);
        var victim = await RegisterAsync(tokenB.Secret, "FOC0016");
        await ReportAsync(victim, "r-b", 5);

        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var refused = await Should.ThrowAsync<RegistrationException>(() => fixture.Send(Registration(tokenA.Secret, "FOC0016", key, force: true)));
        refused.Code.ShouldBe(RegistrationErrorCode.DuplicateProduct);
        (await RefusedAsync(() => fixture.Send(Registration(tokenA.Secret, "foc0016", key, force: true)))).ShouldBe(RegistrationErrorCode.DuplicateProduct);

        await using var session = fixture.Query();
        var stored = (await session.Query<ProductInstance>().ToListAsync()).ShouldHaveSingleItem();
        (stored.Id, stored.AccountId, stored.Udi).ShouldBe((victim.InstanceId, b.Id, "C9300-24T:FOC0016"));
        (await session.LoadAsync<ProductUsage>(victim.InstanceId)).ShouldNotBeNull();
        (await CountsAsync()).ShouldBe((1, 1));
        (await fixture.Send(new ListLicenses(b.Id))).ShouldHaveSingleItem().InUse.ShouldBe(5);
        (await fixture.Send(new ListLicenses(a.Id))).ShouldBeEmpty();
        // B's product still works with its own certificate.
        (await ReportAsync(victim, "r-b-2", 6)).Accepted.ShouldBe(["r-b-2"]);
    }

    [Fact]
    public async Task A_forced_registration_replaces_the_product_of_its_own_account_with_another_token_of_that_account()
    {
        var a = await AccountAsync("Lab A");
        var b = await AccountAsync("Lab B");
        var first = await TokenAsync(a.Id);
        var second = await TokenAsync(a.Id, maxUses: 1);
        var earlier = await RegisterAsync(first.Secret, "FOC0017");
        await ReportAsync(earlier, "r-a", 2);
        var other = await RegisterAsync((await TokenAsync(b.Id)).Secret, "FOC0018");
        await ReportAsync(other, "r-b", 3);

        var replaced = await fixture.Send(Registration(second.Secret, "FOC0017", ECDsa.Create(ECCurve.NamedCurves.nistP256), force: true));

        replaced.InstanceId.ShouldNotBe(earlier.InstanceId);
        await using var session = fixture.Query();
        var stored = await session.Query<ProductInstance>().OrderBy(p => p.Pid).ThenBy(p => p.SerialNumber).ToListAsync();
        stored.Select(p => (p.Id, p.AccountId)).ShouldBe([(replaced.InstanceId, a.Id), (other.InstanceId, b.Id)]);
        (await session.LoadAsync<ProductUsage>(earlier.InstanceId)).ShouldBeNull();
        (await session.LoadAsync<ProductUsage>(other.InstanceId)).ShouldNotBeNull();
        (await RefusedAsync(() => ReportAsync(earlier, "r-old", 1))).ShouldBe(RegistrationErrorCode.NotRegistered);
    }

    [Fact]
    public async Task Products_addressing_another_name_or_arriving_before_the_certificate_is_signed_are_refused_naming_both_names()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var wrongName = await Should.ThrowAsync<RegistrationException>(() => fixture.Send(Registration(token.Secret, "FOC0007", key, host: "10.0.0.1")));
        wrongName.Code.ShouldBe(RegistrationErrorCode.HostNameMismatch);
        wrongName.Message.ShouldContain("10.0.0.1");
        wrongName.Message.ShouldContain(Host);

        await SetCertificateAsync("new.example.test", signedFor: Host);
        var stale = await Should.ThrowAsync<RegistrationException>(() =>
            fixture.Send(Registration(token.Secret, "FOC0007", key, host: "new.example.test")));
        stale.Code.ShouldBe(RegistrationErrorCode.CertificateNotReady);
        stale.Message.ShouldContain("new.example.test");
        stale.Message.ShouldContain(Host);
        (await CountsAsync()).ShouldBe((0, 0));
    }

    [Fact]
    public async Task Reports_of_many_products_are_committed_together_and_a_bad_request_fails_alone()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var products = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => RegisterAsync(token.Secret, $"FOC05{i:D2}")));
        var commits = fixture.Services.GetRequiredService<UsageCommits>();
        var together = commits.CommittedTogether;
        var now = DateTimeOffset.UtcNow;
        UsageReport Report(string id, int count) => new(id, Tag, count, now.AddHours(-1), now);
        var forger = products[0] with { Key = ECDsa.Create(ECCurve.NamedCurves.nistP256) };

        // 72 requests at once: three of every product (each a report of its own), and among them a forged signature,
        // a report ending in the future, and the same report of one product sent twice (a retry overlapping the original).
        var requests = products.SelectMany((p, i) => Enumerable.Range(0, 3).Select(k => (Name: $"{i}/{k}",
            Command: new ReportUsage(Host, Sign(k == 0 && i == 0 ? forger : p, $"report {i}/{k}"), [Report(i == 1 ? "twice" : $"r-{k}", 10 * i + k)])))).ToList();
        requests[6] = ("future", new ReportUsage(Host, Sign(products[2], "future"), [new UsageReport("r-0", Tag, 1, now, now.AddHours(1))]));
        var outcomes = await Task.WhenAll(requests.Select(async r =>
        {
            try
            {
                return (r.Name, Accepted: (await fixture.Send(r.Command)).Accepted, Refused: (RegistrationErrorCode?)null);
            }
            catch (RegistrationException ex)
            {
                return (r.Name, Accepted: (IReadOnlyList<string>)[], Refused: ex.Code);
            }
        }));

        outcomes.Where(o => o.Refused is not null && !o.Name.StartsWith("1/")).Select(o => (o.Name, o.Refused)).ShouldBe(
            [("0/0", RegistrationErrorCode.SignatureInvalid), ("future", RegistrationErrorCode.MalformedRequest)], ignoreOrder: true);
        // The report sent three times is taken in once, whichever request came first.
        outcomes.Where(o => o.Name.StartsWith("1/")).Select(o => o.Refused).ShouldBe(
            [null, RegistrationErrorCode.ReportReplayed, RegistrationErrorCode.ReportReplayed], ignoreOrder: true);
        outcomes.Count(o => o.Refused is null).ShouldBe(68);
        (await CountsAsync()).Usage.ShouldBe(72 - 1 - 2 - 1, "every accepted report stored once, nothing of the refused");
        (commits.CommittedTogether - together).ShouldBeGreaterThan(1, "some of the 72 were committed in one transaction");
        await using var session = fixture.Query();
        // Every product's usage holds its last report: the requests of one product in a batch merge in turn.
        var usages = await session.LoadManyAsync<ProductUsage>(products.Select(p => p.InstanceId).ToArray());
        usages.Count.ShouldBe(24);
        usages.ShouldAllBe(u => u.Usage.Count == 1 && u.Usage[0].Tag == Tag);
        (await session.Query<UsageRecord>().Where(u => u.InstanceId == products[0].InstanceId).CountAsync()).ShouldBe(2);
        (await session.Query<UsageRecord>().Where(u => u.InstanceId == products[2].InstanceId).CountAsync()).ShouldBe(2);
    }

    [Fact]
    public async Task A_request_whose_reports_the_database_refuses_fails_alone_and_the_rest_of_its_batch_commits()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var products = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => RegisterAsync(token.Secret, $"FOC06{i:D2}")));
        // The database itself refuses one report (as it would a value it cannot store): the batch's transaction fails.
        const string Refuse = """
            create or replace function ssm.test_refuse_poison() returns trigger language plpgsql as $$
            begin
              if new.data ->> 'ReportId' = 'poison' then raise exception 'refused for the test' using errcode = 'check_violation'; end if;
              return new;
            end $$;
            create trigger test_refuse_poison before insert on ssm.mt_doc_usagerecord for each row execute function ssm.test_refuse_poison();
            """;
        await SqlAsync(Refuse);
        try
        {
            var outcomes = await Task.WhenAll(products.SelectMany((p, i) => new[] { $"r-{i}-a", i == 5 ? "poison" : $"r-{i}-b" }.Select(async id =>
            {
                try
                {
                    await ReportAsync(p, id, 1);
                    return (Id: id, Failed: (Exception?)null);
                }
                catch (Exception ex)
                {
                    return (Id: id, Failed: ex);
                }
            })));

            outcomes.Where(o => o.Failed is not null).ShouldHaveSingleItem().Id.ShouldBe("poison");
            outcomes.Single(o => o.Failed is not null).Failed.ShouldNotBeOfType<RegistrationException>();
            (await CountsAsync()).Usage.ShouldBe(31, "all but the refused report stored, each once");
        }
        finally
        {
            await SqlAsync("drop trigger test_refuse_poison on ssm.mt_doc_usagerecord; drop function ssm.test_refuse_poison()");
        }
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = fixture.Services.GetRequiredService<IDocumentStore>().Storage.Database.CreateConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    private async Task SqlAsync(string sql)
    {
        await using var connection = fixture.Services.GetRequiredService<IDocumentStore>().Storage.Database.CreateConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Usage_reports_count_once_per_report_id_and_show_as_in_use()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var a = await RegisterAsync(token.Secret, "FOC0008");
        var b = await RegisterAsync(token.Secret, "FOC0009");

        (await ReportAsync(a, "r-1", 3)).Accepted.ShouldBe(["r-1"]);
        await ReportAsync(b, "r-1", 4);
        (await RefusedAsync(() => ReportAsync(a, "r-1", 3))).ShouldBe(RegistrationErrorCode.ReportReplayed);
        (await RefusedAsync(() => ReportAsync(a, "r-1", 99))).ShouldBe(RegistrationErrorCode.ReportReplayed);

        (await CountsAsync()).ShouldBe((2, 2));
        var license = (await fixture.Send(new ListLicenses(account.Id))).ShouldHaveSingleItem();
        license.ShouldSatisfyAllConditions(l => l.Tag.ShouldBe(Tag), l => l.InUse.ShouldBe(7), l => l.Purchased.ShouldBe(0),
            l => l.Status.ShouldBe(ComplianceStatus.OutOfCompliance));

        await ReportAsync(a, "r-2", 1);
        (await fixture.Send(new ListLicenses(account.Id))).Single().InUse.ShouldBe(5);

        // The instance is not rewritten for every report: its last contact moves in steps of ContactResolution.
        await using var session = fixture.Query();
        var instance = (await session.LoadAsync<ProductInstance>(a.InstanceId))!;
        instance.LastContactAt.ShouldBe(instance.RegisteredAt);
        (await session.LoadAsync<ProductUsage>(a.InstanceId))!.LastReportAt.ShouldBeGreaterThan(instance.RegisteredAt);
    }

    [Fact]
    public async Task Forged_stale_and_expired_credentials_are_refused()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var product = await RegisterAsync(token.Secret, "FOC0010");
        var now = DateTimeOffset.UtcNow;
        UsageReport[] report = [new("r-9", Tag, 1, now.AddHours(-1), now)];

        var forger = product with { Key = ECDsa.Create(ECCurve.NamedCurves.nistP256) };
        (await RefusedAsync(() => fixture.Send(new ReportUsage(Host, Sign(forger, "x"), report)))).ShouldBe(RegistrationErrorCode.SignatureInvalid);
        (await RefusedAsync(() => fixture.Send(new ReportUsage(Host, Sign(product, "x", now.AddMinutes(-10)), report))))
            .ShouldBe(RegistrationErrorCode.ClockSkew);
        var signed = Sign(product, "x");
        (await RefusedAsync(() => fixture.Send(new ReportUsage(Host, signed with { Body = Encoding.UTF8.GetBytes("y") }, report))))
            .ShouldBe(RegistrationErrorCode.SignatureInvalid);

        await using (var session = fixture.Services.GetRequiredService<IDocumentStore>().LightweightSession())
        {
            session.QueueSqlCommand($"update ssm.mt_doc_productinstance set data = jsonb_set(data, '{{{ProductInstance.Keys.CertificateNotAfter}}}', to_jsonb(?::text))",
                now.AddMinutes(-1).ToString("O"));
            await session.SaveChangesAsync();
        }
        (await RefusedAsync(() => fixture.Send(new ReportUsage(Host, Sign(product, "x"), report)))).ShouldBe(RegistrationErrorCode.CertificateExpired);
        (await CountsAsync()).ShouldBe((1, 0));
    }

    [Fact]
    public async Task Renewal_issues_a_new_certificate_and_deregistration_frees_the_licenses()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var product = await RegisterAsync(token.Secret, "FOC0011");
        await ReportAsync(product, "r-1", 2);

        var renewed = await fixture.Send(new RenewProductCertificate(Host, Sign(product, "renew"), null));
        renewed.IdCertificate.ShouldNotBe(product.Registered.IdCertificate);
        await ReportAsync(product, "r-2", 2);

        await fixture.Send(new DeregisterProduct(Host, Sign(product, "bye")));
        (await CountsAsync()).ShouldBe((0, 2));
        await using (var session = fixture.Query())
            (await session.Query<ProductUsage>().CountAsync()).ShouldBe(0);
        (await fixture.Send(new ListLicenses(account.Id))).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_key_on_another_curve_is_refused_as_a_CSR_and_as_a_bare_key_and_nothing_is_written()
    {
        // Only P-256 keys are stored, as their point (P256Key, decision 0046): any other key must never get that far.
        var token = await TokenAsync((await AccountAsync()).Id);
        foreach (var curve in new[] { ECCurve.NamedCurves.nistP384, ECCurve.NamedCurves.nistP521 })
        {
            using var key = ECDsa.Create(curve);
            var asCsr = Registration(token.Secret, "FOC0015", key);
            (await RefusedAsync(() => fixture.Send(asCsr))).ShouldBe(RegistrationErrorCode.MalformedRequest);
            (await RefusedAsync(() => fixture.Send(asCsr with { Csr = null, PublicKey = key.ExportSubjectPublicKeyInfoPem() })))
                .ShouldBe(RegistrationErrorCode.MalformedRequest);
        }
        (await CountsAsync()).ShouldBe((0, 0));

        // The same requests with a P-256 key register, each way.
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await fixture.Send(Registration(token.Secret, "FOC0015", p256));
        await fixture.Send(Registration(token.Secret, "FOC0016", p256) with { Csr = null, PublicKey = p256.ExportSubjectPublicKeyInfoPem() });
        (await CountsAsync()).ShouldBe((2, 0));
    }

    [Fact]
    public async Task A_CSR_whose_signature_does_not_prove_its_key_is_refused_and_nothing_is_written()
    {
        // The node checks CSRs through libcrypto itself on Linux (decision 0044): these refusals are that path's.
        Ssm.Infrastructure.Certificates.P256Signatures.Direct.ShouldBe(OperatingSystem.IsLinux());
        var token = await TokenAsync((await AccountAsync()).Id);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var valid = Registration(token.Secret, "FOC0013", key);
        var der = new CertificateRequest("CN=FOC0013", key, HashAlgorithmName.SHA256).CreateSigningRequest();

        var badSignature = der.ToArray();
        badSignature[^1] ^= 0x01;
        // Another key in the request than the one that signed it: the signature is the proof of possession.
        var otherKey = der.ToArray();
        var ownKey = key.ExportSubjectPublicKeyInfo();
        var at = der.AsSpan().IndexOf(ownKey);
        at.ShouldBePositive();
        other.ExportSubjectPublicKeyInfo().CopyTo(otherKey, at);
        foreach (var forged in new[] { badSignature, otherKey })
            (await RefusedAsync(() => fixture.Send(valid with { Csr = PemEncoding.WriteString("CERTIFICATE REQUEST", forged) })))
                .ShouldBe(RegistrationErrorCode.MalformedRequest);
        (await CountsAsync()).ShouldBe((0, 0));

        // The untouched request registers, and so does one signed with SHA-384, as CertificateRequest accepted.
        await fixture.Send(valid);
        await fixture.Send(Registration(token.Secret, "FOC0014", other) with
        {
            Csr = new CertificateRequest("CN=FOC0014", other, HashAlgorithmName.SHA384).CreateSigningRequestPem(),
        });
        (await CountsAsync()).ShouldBe((2, 0));
    }

    [Fact]
    public async Task Invalid_registrations_are_refused_by_validation_and_nothing_is_written()
    {
        var account = await AccountAsync();
        var token = await TokenAsync(account.Id);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var valid = Registration(token.Secret, "FOC0012", key);

        await Should.ThrowAsync<ValidationException>(() => fixture.Send(valid with { Pid = "" }));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(valid with { SerialNumber = "FOC 12; drop" }));
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(valid with { Csr = null }));
        (await RefusedAsync(() => fixture.Send(valid with { Csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----" })))
            .ShouldBe(RegistrationErrorCode.MalformedRequest);
        using var rsa = RSA.Create(2048);
        (await RefusedAsync(() => fixture.Send(valid with { Csr = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem() })))
            .ShouldBe(RegistrationErrorCode.MalformedRequest);
        await Should.ThrowAsync<ValidationException>(() => fixture.Send(new CreateRegistrationToken(account.Id, "", 0, null, false)));
        (await CountsAsync()).ShouldBe((0, 0));
    }
}
