using System.Security.Cryptography;
using System.Text;
using Ssm.Application.Accounts;

namespace Ssm.Application.Common;

/// <summary>
/// Brings the replicated schema up to this build, once per build: comparing Marten's whole configured schema with the
/// database costs seconds of CPU (2–3 s on two loaded cores), and a node that has just taken over would spend them while
/// its first clients arrive. The build that applied the schema leaves a mark (an <see cref="AppliedMigration"/> named
/// after it); a node of the same build finds the mark and skips the comparison. Another build, or a mark that cannot be
/// read, applies everything as before.
/// </summary>
public static class SchemaUpgrade
{
    /// <summary>This build: the module version ids of the project's own assemblies, which change whenever their code does.</summary>
    public static string Build { get; } = ComputeBuild();

    /// <summary>Applies the schema and the one-off data migrations unless this build did already; true if it applied.</summary>
    public static async Task<bool> ApplyAsync(IDocumentStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var mark = "schema-" + Build;
        if (await IsMarkedAsync(store, mark, cancellationToken))
            return false;
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await VirtualAccountMigration.RunAsync(store, now, cancellationToken);
        await Products.ProductInstanceCompaction.RunAsync(store, now, cancellationToken);
        await Sync.SyncOutbox.ApplyAsync(store, now, cancellationToken);
        await using var session = store.LightweightSession();
        session.Store(new AppliedMigration { Id = mark, AppliedAt = now });
        await session.SaveChangesAsync(cancellationToken);
        return true;
    }

    private static async Task<bool> IsMarkedAsync(IDocumentStore store, string mark, CancellationToken cancellationToken)
    {
        try
        {
            await using var session = store.QuerySession();
            return await session.LoadAsync<AppliedMigration>(mark, cancellationToken) is not null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // No table yet (an empty database, or one from before the mark): the whole schema is applied.
            return false;
        }
    }

    private static string ComputeBuild()
    {
        var ids = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => a.GetName().Name is { } name && name.StartsWith("Ssm.", StringComparison.Ordinal))
            .Select(a => $"{a.GetName().Name}:{a.ManifestModule.ModuleVersionId}")
            .Order(StringComparer.Ordinal);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(";", ids))))[..16];
    }
}
