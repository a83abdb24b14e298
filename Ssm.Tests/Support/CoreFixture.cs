using System.Security.Claims;
using Marten;
using Mediator;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Ssm.Application.Common;
using Ssm.Infrastructure.Persistence;
using Ssm.Web.Hosting;
using Ssm.Web.Security;

namespace Ssm.Tests.Support;

/// <summary>The node's real services (mediator, Marten, validators) on a database of their own.</summary>
public sealed class CoreFixture() : ServiceFixture("ssm_features");

/// <summary>The node's services in-process, on a database named for the fixture; subclasses add configuration.</summary>
public abstract class ServiceFixture(string database) : IAsyncLifetime
{
    public ServiceProvider Services { get; private set; } = default!;
    public string ConnectionString { get; private set; } = "";

    /// <summary>The node's backup folder: a temporary one per fixture, never the working directory's .data.</summary>
    public string BackupFolder { get; } = Path.Combine(Path.GetTempPath(), $"ssm-backups-{database}-{Guid.NewGuid():N}");

    /// <summary>Settings on top of the database and the node name (started services, such as an emulator, go here).</summary>
    protected virtual Task<Dictionary<string, string?>> SettingsAsync() => Task.FromResult(new Dictionary<string, string?>());

    public async ValueTask InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        ConnectionString = await server.CreateDatabaseAsync(database);
        var settings = await SettingsAsync();
        settings["ConnectionStrings:Ssm"] = ConnectionString;
        settings["Node:Name"] = "test-node";
        settings["Node:BackupDirectory"] = BackupFolder;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSsmCore(configuration);
        Services = services.BuildServiceProvider();
        await Services.GetRequiredService<SchemaInitializer>().StartAsync(CancellationToken.None);
    }

    /// <summary>Every test starts from empty tables.</summary>
    public Task ResetAsync() => Services.GetRequiredService<IDocumentStore>().Advanced.Clean.DeleteAllDocumentsAsync();

    public async Task<TResponse> SendAs<TResponse>(string user, string role, ICommand<TResponse> command)
    {
        await using var scope = Begin(user, role);
        return await scope.ServiceProvider.GetRequiredService<ISender>().Send(command);
    }

    public async Task<TResponse> SendAs<TResponse>(string user, string role, IQuery<TResponse> query)
    {
        await using var scope = Begin(user, role);
        return await scope.ServiceProvider.GetRequiredService<ISender>().Send(query);
    }

    public Task<TResponse> Send<TResponse>(ICommand<TResponse> command) => SendAs("alice", CurrentUser.AdminRole, command);
    public Task<TResponse> Send<TResponse>(IQuery<TResponse> query) => SendAs("alice", CurrentUser.AdminRole, query);

    /// <summary>Sends as <paramref name="principal"/>: the node itself, an anonymous caller, or anyone a test plays.</summary>
    public async Task<TResponse> SendAs<TResponse>(ClaimsPrincipal principal, ICommand<TResponse> command)
    {
        await using var scope = Begin(principal);
        return await scope.ServiceProvider.GetRequiredService<ISender>().Send(command);
    }

    public async Task<TResponse> SendAs<TResponse>(ClaimsPrincipal principal, IQuery<TResponse> query)
    {
        await using var scope = Begin(principal);
        return await scope.ServiceProvider.GetRequiredService<ISender>().Send(query);
    }

    public IQuerySession Query() => Services.GetRequiredService<IDocumentStore>().QuerySession();

    public ChangeNotifier Notifier => Services.GetRequiredService<ChangeNotifier>();

    public AsyncServiceScope Begin(string user, string role) => Begin(CurrentUser.For(user, role));

    public AsyncServiceScope Begin(ClaimsPrincipal principal)
    {
        var scope = Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = principal;
        return scope;
    }

    public virtual async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        if (Directory.Exists(BackupFolder))
            Directory.Delete(BackupFolder, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class CoreCollection : ICollectionFixture<CoreFixture>
{
    public const string Name = "core";
}
