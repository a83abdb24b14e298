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
public sealed class CoreFixture : IAsyncLifetime
{
    public ServiceProvider Services { get; private set; } = default!;
    public string ConnectionString { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        ConnectionString = await server.CreateDatabaseAsync("ssm_features");
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Ssm"] = ConnectionString, ["Node:Name"] = "test-node" })
            .Build();
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

    public IQuerySession Query() => Services.GetRequiredService<IDocumentStore>().QuerySession();

    public ChangeNotifier Notifier => Services.GetRequiredService<ChangeNotifier>();

    private AsyncServiceScope Begin(string user, string role)
    {
        var scope = Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = CurrentUser.For(user, role);
        return scope;
    }

    public async ValueTask DisposeAsync() => await Services.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class CoreCollection : ICollectionFixture<CoreFixture>
{
    public const string Name = "core";
}
