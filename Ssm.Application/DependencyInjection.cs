using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Ssm.Application;

public static class DependencyInjection
{
    public static IServiceCollection AddApplication(this IServiceCollection services)
    {
        services.AddValidatorsFromAssembly(typeof(DependencyInjection).Assembly, ServiceLifetime.Singleton);
        services.AddSingleton<ChangeNotifier>();
        services.AddSingleton<Registration.HostCommonNames>();
        services.AddSingleton<Registration.RegistrationTokenCache>();
        services.AddSingleton<Registration.RegistrationCommits>();
        services.AddSingleton<Registration.UsageCommits>();
        services.AddSingleton<Licenses.LicenseUsage>();
        services.AddSingleton<Ha.IClusterJournal, Ha.MartenClusterJournal>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<Ha.WriteGate>();
        services.AddSingleton<Ha.ClusterSupervisor>();
        services.AddSingleton<Notifications.NotificationQueue>();
        services.AddSingleton<Notifications.NotificationWatch>();
        services.AddSingleton<Backups.BackupRunner>();
        return services;
    }
}
