using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
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
}
