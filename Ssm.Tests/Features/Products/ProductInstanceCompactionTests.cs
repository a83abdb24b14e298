using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Products;
using Ssm.Domain.Products;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Products;

/// <summary>Product instances stored before decision 0035 migrate to the compact shape once, and read as before.</summary>
[Collection(CoreCollection.Name)]
public sealed class ProductInstanceCompactionTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<T> ScalarAsync<T>(string sql)
    {
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await using var session = store.QuerySession();
        return (await session.AdvancedSql.QueryAsync<T>(sql, CancellationToken.None)).Single();
    }

    [Fact]
    public async Task An_older_instance_loses_its_certificate_PEM_and_the_table_its_unread_columns_and_token_index()
    {
        var account = await fixture.Send(new CreateAccount("Lab", "", "ops@example.com"));
        var older = ProductData.Instance(account.Id, "sw-old", "C9300-24T", "FOC1");
        var newer = ProductData.Instance(account.Id, "sw-new", "C9300-24T", "FOC2");
        await fixture.StoreAsync(older, newer);
        const string Pem = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n";
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        // As an older version left it: the PEM in the document, Marten's informational columns, the token index, no mark.
        await using (var session = store.LightweightSession())
        {
            session.DeleteWhere<AppliedMigration>(m => m.Id == ProductInstanceCompaction.Id);
            session.QueueSqlCommand("alter table ssm.mt_doc_productinstance add column if not exists mt_last_modified timestamptz default now(), "
                                    + "add column if not exists mt_version uuid default gen_random_uuid(), "
                                    + "add column if not exists mt_dotnet_type varchar default 'Ssm.Domain.Products.ProductInstance'");
            session.QueueSqlCommand("create index if not exists mt_doc_productinstance_idx_token_id on ssm.mt_doc_productinstance ((data ->> 'TokenId'))");
            session.QueueSqlCommand("create index if not exists mt_doc_productinstance_idx_registered_at on ssm.mt_doc_productinstance ((data ->> 'RegisteredAt'))");
            session.QueueSqlCommand("update ssm.mt_doc_productinstance set data = data || jsonb_build_object('CertificatePem', ?::text) where id = ?",
                Pem, older.Id);
            await session.SaveChangesAsync();
        }
        (await ScalarAsync<int>("select count(*)::int from ssm.mt_doc_productinstance where jsonb_exists(data, 'CertificatePem')")).ShouldBe(1);
        // Until it runs the older document reads as any other: the PEM is a field no property takes.
        await using (var session = store.QuerySession())
            (await session.LoadAsync<ProductInstance>(older.Id)).ShouldNotBeNull().Name.ShouldBe("sw-old");

        await ProductInstanceCompaction.RunAsync(store, DateTimeOffset.UtcNow, CancellationToken.None);

        (await ScalarAsync<int>("select count(*)::int from ssm.mt_doc_productinstance where jsonb_exists(data, 'CertificatePem')")).ShouldBe(0);
        (await ScalarAsync<int>("""
            select count(*)::int from information_schema.columns
            where table_schema = 'ssm' and table_name = 'mt_doc_productinstance' and column_name like 'mt\_%'
            """)).ShouldBe(0);
        (await ScalarAsync<int>("select count(*)::int from pg_indexes where indexname in ('mt_doc_productinstance_idx_token_id', "
                                + "'mt_doc_productinstance_idx_registered_at')")).ShouldBe(0);
        await using (var session = store.QuerySession())
        {
            var loaded = (await session.LoadAsync<ProductInstance>(older.Id)).ShouldNotBeNull();
            (loaded.Udi, loaded.CertificateSerial, loaded.CertificateNotAfter).ShouldBe((older.Udi, older.CertificateSerial, older.CertificateNotAfter));
        }
        (await fixture.Send(new ListProductInstances())).Items.Select(r => r.Name).ShouldBe(["sw-new", "sw-old"]);
        (await fixture.Send(new GetProductInstance(older.Id))).CertificateSerial.ShouldBe(older.CertificateSerial);

        // Once: a second run finds its mark and changes nothing.
        await using (var session = store.LightweightSession())
        {
            session.QueueSqlCommand("update ssm.mt_doc_productinstance set data = data || jsonb_build_object('CertificatePem', ?::text) where id = ?",
                Pem, newer.Id);
            await session.SaveChangesAsync();
        }
        await ProductInstanceCompaction.RunAsync(store, DateTimeOffset.UtcNow, CancellationToken.None);
        (await ScalarAsync<int>("select count(*)::int from ssm.mt_doc_productinstance where jsonb_exists(data, 'CertificatePem')")).ShouldBe(1);
    }

    [Fact]
    public async Task An_older_instance_gets_short_keys_an_upper_case_UDI_and_its_key_as_a_point_and_reads_as_before()
    {
        var account = await fixture.Send(new CreateAccount("Lab", "", "ops@example.com"));
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var older = ProductData.Instance(account.Id, "sw-old", "c9300-24t", "foc1");
        older.PublicKey = key.ExportSubjectPublicKeyInfo();
        older.ExportControlled = true;
        var plain = ProductData.Instance(account.Id, "sw-plain", "C9300-48P", "FOC2", minutes: 1);
        plain.PublicKey = [1, 2, 3]; // not a P-256 key: kept whole
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        await fixture.StoreAsync(older, plain);
        // As an older version left them: long keys, the UDI and its index, the whole key, no mark.
        await using (var session = store.LightweightSession())
        {
            session.DeleteWhere<AppliedMigration>(m => m.Id == ProductInstanceCompaction.KeysId);
            foreach (var instance in new[] { older, plain })
                session.QueueSqlCommand("update ssm.mt_doc_productinstance set data = ?::jsonb where id = ?", ProductData.LegacyJson(store, instance), instance.Id);
            session.QueueSqlCommand("create unique index if not exists ux_product_udi on ssm.mt_doc_productinstance ((data ->> 'Udi'))");
            await session.SaveChangesAsync();
        }
        (await ScalarAsync<int>("select count(*)::int from ssm.mt_doc_productinstance where jsonb_exists(data, 'Udi')")).ShouldBe(2);

        await ProductInstanceCompaction.RunAsync(store, DateTimeOffset.UtcNow, CancellationToken.None);

        (await ScalarAsync<string>($"select string_agg(k, ',' order by lower(k)) from ssm.mt_doc_productinstance, jsonb_object_keys(data) k where id = '{older.Id}'"))
            .ShouldBe("acct,cexp,cs,host,Id,key,name,pid,reg,seen,sn,tok,type,va,xc");
        (await ScalarAsync<string>($"select data ->> 'key' from ssm.mt_doc_productinstance where id = '{older.Id}'"))
            .ShouldBe(Convert.ToBase64String(older.PublicKey.AsSpan(P256Key.InfoPrefix.Length)));
        (await ScalarAsync<bool>($"select jsonb_exists(data, 'xc') from ssm.mt_doc_productinstance where id = '{plain.Id}'")).ShouldBeFalse();
        (await ScalarAsync<int>("select count(*)::int from pg_indexes where indexname in ('ux_product_udi', 'ix_product_pid_serial')")).ShouldBe(0);
        // Every index reads a key the documents have (Marten names them from the attributes, timestamps included).
        var indexes = await ScalarAsync<string>("select string_agg(indexdef, E'\n' order by indexname) from pg_indexes where tablename = 'mt_doc_productinstance'");
        foreach (var indexed in typeof(ProductInstance.Keys).GetFields().Select(f => (string)f.GetValue(null)!)
                     .Where(k => k is not (ProductInstance.Keys.TokenId or ProductInstance.Keys.ProductType or ProductInstance.Keys.HostName
                         or ProductInstance.Keys.ExportControlled or ProductInstance.Keys.RegisteredAt or ProductInstance.Keys.CertificateSerial
                         or ProductInstance.Keys.CertificateNotAfter or ProductInstance.Keys.PublicKey)))
            indexes.ShouldContain($"'{indexed}'");
        indexes.ShouldNotContain("Udi");
        indexes.ShouldNotContain("LastContactAt");
        await using (var session = store.QuerySession())
        {
            var loaded = (await session.LoadAsync<ProductInstance>(older.Id)).ShouldNotBeNull();
            (loaded.Udi, loaded.Pid, loaded.ExportControlled, loaded.VirtualAccountId, loaded.LastContactAt, loaded.CertificateNotAfter)
                .ShouldBe(("C9300-24T:FOC1", "C9300-24T", true, older.VirtualAccountId, older.LastContactAt, older.CertificateNotAfter));
            loaded.PublicKey.ShouldBe(older.PublicKey);
            (await session.LoadAsync<ProductInstance>(plain.Id)).ShouldNotBeNull().PublicKey.ShouldBe(plain.PublicKey);
            (await session.Query<ProductInstance>().Where(p => p.Pid == "C9300-24T" && p.SerialNumber == "FOC1").Select(p => p.Id).ToListAsync())
                .ShouldBe([older.Id]);
        }
        (await fixture.Send(new ListProductInstances(SortBy: ProductSort.LastContactAt))).Items.Select(r => r.Udi).ShouldBe(["C9300-48P:FOC2", "C9300-24T:FOC1"]);

        // The UDI is still one registration per product: the unique index on PID and serial number refuses the upper-cased twin.
        var twin = await Should.ThrowAsync<Exception>(() => fixture.StoreAsync(ProductData.Instance(account.Id, "sw-twin", "C9300-24T", "FOC1", minutes: 2)));
        fixture.Services.GetRequiredService<IStorageErrors>().IsUniqueViolation(twin).ShouldBeTrue();

        // Once: a second run finds its mark and changes nothing.
        await using (var session = store.LightweightSession())
        {
            session.QueueSqlCommand("update ssm.mt_doc_productinstance set data = ?::jsonb where id = ?", ProductData.LegacyJson(store, plain), plain.Id);
            await session.SaveChangesAsync();
        }
        await ProductInstanceCompaction.RunAsync(store, DateTimeOffset.UtcNow, CancellationToken.None);
        (await ScalarAsync<int>("select count(*)::int from ssm.mt_doc_productinstance where jsonb_exists(data, 'Udi')")).ShouldBe(1);
    }
}
