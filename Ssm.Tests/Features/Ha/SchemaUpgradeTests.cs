using Marten;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Tests.Support;

namespace Ssm.Tests.Features.Ha;

/// <summary>
/// A node that takes over applies the schema of its build once: the comparison costs seconds of CPU while the first
/// clients arrive, so a database already brought up to this build is left as it is.
/// </summary>
[Collection(CoreCollection.Name)]
public sealed class SchemaUpgradeTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task The_schema_is_applied_once_per_build_and_another_builds_mark_does_not_count()
    {
        var store = fixture.Services.GetRequiredService<IDocumentStore>();
        var now = DateTimeOffset.UtcNow;
        await using (var session = store.LightweightSession())
        {
            session.Store(new AppliedMigration { Id = "schema-0123456789abcdef", AppliedAt = now });
            await session.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        (await SchemaUpgrade.ApplyAsync(store, now, TestContext.Current.CancellationToken)).ShouldBeTrue();
        (await SchemaUpgrade.ApplyAsync(store, now, TestContext.Current.CancellationToken)).ShouldBeFalse();

        await using var query = store.QuerySession();
        (await query.LoadAsync<AppliedMigration>("schema-" + SchemaUpgrade.Build, TestContext.Current.CancellationToken)).ShouldNotBeNull();
        SchemaUpgrade.Build.ShouldNotBe("0123456789abcdef");
    }
}
