using Mediator;
using Ssm.Application;
using Ssm.Application.Common;
using Ssm.Infrastructure;
using Ssm.Web.Security;

namespace Ssm.Web.Hosting;

/// <summary>Everything a node needs to handle messages, with or without the web host (console verbs, tests).</summary>
public static class CoreServices
{
    public static IServiceCollection AddSsmCore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddApplication();
        services.AddInfrastructure(configuration);
        services.AddHttpContextAccessor();
        services.AddScoped<CurrentUser>();
        services.AddScoped<ICurrentUser>(sp => sp.GetRequiredService<CurrentUser>());
        // A Quartz job is the node itself sending (decision 0017); every job runs in a scope of its own.
        services.Configure<Quartz.JobFactoryOptions>(options => options.ConfigureScope = (scope, _, _) =>
            scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = CurrentUser.Node);
        services.AddMediator((MediatorOptions options) =>
        {
            options.ServiceLifetime = ServiceLifetime.Scoped;
            options.Assemblies = [typeof(Application.DependencyInjection)];
            options.PipelineBehaviors = [typeof(LoggingBehavior<,>), typeof(ValidationBehavior<,>)];
        });
        return services;
    }
}
