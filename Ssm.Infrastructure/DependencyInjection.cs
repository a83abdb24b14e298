using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Persistence;
using Ssm.Infrastructure.Security;

namespace Ssm.Infrastructure;

public static class DependencyInjection
{
    public const string ConnectionStringName = "Ssm";

    public static IServiceCollection AddInfrastructure(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                $"No PostgreSQL connection: set ConnectionStrings:{ConnectionStringName} (flag --db, or environment ConnectionStrings__{ConnectionStringName}).");

        services.Configure<NodeOptions>(configuration.GetSection(NodeOptions.Section));
        services.AddSingleton<IClock, SystemClock>();
        services.AddSingleton<IPasswordHasher, PasswordHasher>();
        services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.AddMarten(options => MartenSetup.Configure(options, connectionString)).UseLightweightSessions();
        services.AddSingleton<SchemaInitializer>();
        services.AddHostedService(sp => sp.GetRequiredService<SchemaInitializer>());
        return services;
    }
}
