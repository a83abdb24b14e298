using Ssm.Domain.Accounts;

namespace Ssm.Application.Accounts;

/// <summary>Marks a one-off data migration as done, so a node start does not scan a million products to find out.</summary>
public sealed class AppliedMigration
{
    public string Id { get; set; } = "";
    public DateTimeOffset AppliedAt { get; set; }
}

/// <summary>
/// Moves data from before virtual accounts into each account's DEFAULT one: it creates the DEFAULT virtual accounts
/// that are missing and gives every token, product and usage document without a virtual account its account's
/// DEFAULT (whose id is the account's, so one UPDATE per table does it). Runs where the schema is applied, on a
/// writable database, in one transaction; the mark makes it run once.
/// </summary>
public static class VirtualAccountMigration
{
    public const string Id = "virtual-accounts-v1";

    public static async Task RunAsync(IDocumentStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<AppliedMigration>(Id, cancellationToken) is not null)
            return;
        var accounts = await session.Query<LocalAccount>().ToListAsync(cancellationToken);
        var defaults = (await session.Query<VirtualAccount>().Where(v => v.IsDefault).Select(v => v.AccountId).ToListAsync(cancellationToken)).ToHashSet();
        foreach (var account in accounts.Where(a => !defaults.Contains(a.Id)))
            session.Store(VirtualAccount.DefaultOf(account, "migration", now));
        foreach (var table in new[] { "registrationtoken", "productinstance", "productusage" })
            session.QueueSqlCommand($"update {store.Options.DatabaseSchemaName}.mt_doc_{table} set data = jsonb_set(data, '{{VirtualAccountId}}', data -> 'AccountId') "
                                    + "where data -> 'VirtualAccountId' is null");
        session.Store(new AppliedMigration { Id = Id, AppliedAt = now });
        await session.SaveChangesAsync(cancellationToken);
    }
}
