using FluentValidation;
using Marten;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Application.Sync;
using Ssm.Infrastructure.Csc;
using Ssm.Infrastructure.Ha;
using Ssm.Infrastructure.Persistence;
using Ssm.Infrastructure.Security;

namespace Ssm.Infrastructure;

public static class DependencyInjection
{
    public const string ConnectionStringName = "Ssm";

    public static IServiceCollection AddInfrastructure(this IServiceCollection services, IConfiguration configuration)
    {
        var node = configuration.GetSection(NodeOptions.Section).Get<NodeOptions>() ?? new NodeOptions();
        var ha = configuration.GetSection(HaOptions.Section).Get<HaOptions>() ?? new HaOptions();
        var check = new HaOptionsValidator().Validate(ha);
        if (!check.IsValid)
            throw new InvalidOperationException("Invalid cluster configuration: " + string.Join(" ", check.Errors.Select(e => e.ErrorMessage)));

        // A node that manages its database reaches it over the local socket; otherwise it is given a connection string.
        var connectionString = ha.ManageDatabase
            ? PostgresNode.LocalConnectionString(node, ha)
            : configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                $"No PostgreSQL connection: set ConnectionStrings:{ConnectionStringName} (flag --db, or environment ConnectionStrings__{ConnectionStringName}), or let the node manage its own (--manage-db).");

        services.Configure<NodeOptions>(configuration.GetSection(NodeOptions.Section));
        services.Configure<HaOptions>(configuration.GetSection(HaOptions.Section));
        services.AddSingleton<IClock, SystemClock>();
        services.AddSingleton<IPasswordHasher, PasswordHasher>();
        services.AddSingleton<IStorageErrors, PostgresStorageErrors>();
        services.AddSingleton<Application.Backups.IDatabaseBackup, Backups.PostgresBackup>();
        services.AddSingleton<Application.Backups.IBackupFolder, Backups.BackupFolder>();
        services.AddSingleton<Application.Notifications.ISecretProtector, Notifications.SecretProtector>();
        services.AddSingleton<Application.Notifications.INotificationTransport, Notifications.NotificationTransport>();
        services.AddHostedService<Notifications.NotificationSender>();
        // Start-up order matters: the cluster role (and the database it starts) first. Hosted services start in the
        // order they are added, and data protection's loads the key ring from the database, which a node restarting
        // after a crash does not have yet: 0.2-0.4 s that a rejoin waited for.
        services.AddHostedService<ClusterStartup>();
        // The key ring is in the replicated database: login cookies and API tokens outlive a failover.
        services.AddSingleton<DataProtectionKeys>();
        services.AddDataProtection().SetApplicationName("ssm");
        services.AddOptions<KeyManagementOptions>().Configure<DataProtectionKeys>((options, keys) => options.XmlRepository = keys);
        services.AddSingleton<Application.Api.IApiTokenProtector, ApiTokenProtector>();
        services.AddSingleton<Application.Registration.IRegistrationTokenSealer, RegistrationTokenSealer>();
        services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        // Marten shares the node's data source, so a database restart can clear one pool of dead connections.
        services.AddMarten(MartenSetup.Configure).UseLightweightSessions().UseNpgsqlDataSource();

        // Issued when first needed: a node on a database it does not manage (--db) has no cluster certificate.
        services.AddSingleton<NodeCertificate>();
        services.AddSingleton(sp => new Lazy<NodeCertificate>(sp.GetRequiredService<NodeCertificate>));
        if (ha.ManageDatabase)
            services.AddHostedService<ClusterKeysWatcher>();
        // The node host starts its own at process start (NodeHost); elsewhere nothing runs before PostgresNode.
        services.TryAddSingleton(CrashRecovery.None);
        services.AddSingleton<PostgresNode>();
        services.AddSingleton<IDatabaseNode>(sp => sp.GetRequiredService<PostgresNode>());
        services.AddSingleton<IWitness, WitnessLease>();
        services.AddSingleton<ILocalStateStore, LocalStateFile>();
        services.AddSingleton<IPeerLink, HttpPeerLink>();
        AddCsc(services, configuration);
        services.AddSingleton<Application.Certificates.IHostAddresses, Certificates.HostAddresses>();
        services.AddSingleton<Application.Registration.IProductCertificateAuthority, Certificates.ProductCertificateAuthority>();
        services.AddHttpClient(HttpPeerLink.ClientName)
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var node = sp.GetRequiredService<NodeCertificate>();
                return HttpPeerLink.CreateHandler(() => node.Credentials, () => node.Certificate, ClusterCredentials.NodeRole);
            })
            // One handler for the node's life: its open TLS connections are what keeps a heartbeat cheap.
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        switch (ha.VipProvider)
        {
            case "external":
                services.AddSingleton<IVip, ExternalVip>();
                break;
            case "ip":
                services.AddSingleton<IVip, IpVip>();
                break;
            default:
                services.AddSingleton<IVip, LoopbackVip>();
                break;
        }

        services.AddSingleton<SchemaInitializer>();
        services.AddHostedService(sp => sp.GetRequiredService<SchemaInitializer>());
        services.AddHostedService<MartenWarmUp>();
        services.AddSingleton<Certificates.ServerCertificateProvider>();
        services.AddHostedService(sp => sp.GetRequiredService<Certificates.ServerCertificateProvider>());

        var csc = configuration.GetSection(CscOptions.Section).Get<CscOptions>() ?? new CscOptions();
        services.AddQuartz(quartz =>
        {
            // The heartbeat only where there is a cluster to beat for.
            if (ha.ManageDatabase)
            {
                var heartbeat = new JobKey("heartbeat");
                quartz.AddJob<HeartbeatJob>(job => job.WithIdentity(heartbeat));
                quartz.AddTrigger(trigger => trigger.ForJob(heartbeat).StartNow()
                    .WithSimpleSchedule(schedule => schedule.WithInterval(ha.HeartbeatInterval).RepeatForever()));
            }
            var notifications = new JobKey("notifications");
            quartz.AddJob<Notifications.NotificationJob>(job => job.WithIdentity(notifications));
            quartz.AddTrigger(trigger => trigger.ForJob(notifications).StartAt(DateTimeOffset.UtcNow.AddSeconds(2))
                .WithSimpleSchedule(schedule => schedule.WithInterval(TimeSpan.FromSeconds(2)).RepeatForever()));
            var backups = new JobKey("backups");
            quartz.AddJob<Backups.BackupJob>(job => job.WithIdentity(backups));
            quartz.AddTrigger(trigger => trigger.ForJob(backups).StartAt(DateTimeOffset.UtcNow.AddSeconds(10))
                .WithSimpleSchedule(schedule => schedule.WithInterval(TimeSpan.FromSeconds(30)).RepeatForever()));
            var sync = new JobKey("csc-sync");
            quartz.AddJob<SyncSchedulerJob>(job => job.WithIdentity(sync));
            quartz.AddTrigger(trigger => trigger.ForJob(sync).StartAt(DateTimeOffset.UtcNow.AddSeconds(2))
                .WithSimpleSchedule(schedule => schedule.WithInterval(TimeSpan.FromSeconds(Math.Max(1, csc.ScheduleCheckSeconds))).RepeatForever()));
        });
        services.AddQuartzHostedService(options => options.WaitForJobsToComplete = true);
        return services;
    }

    private static void AddCsc(IServiceCollection services, IConfiguration configuration)
    {
        var csc = configuration.GetSection(CscOptions.Section).Get<CscOptions>() ?? new CscOptions();
        if (!string.IsNullOrWhiteSpace(csc.RootCertificate) && !File.Exists(csc.RootCertificate))
            throw new InvalidOperationException($"Csc:RootCertificate names {csc.RootCertificate}, which does not exist.");
        services.Configure<CscOptions>(configuration.GetSection(CscOptions.Section));
        services.AddHttpClient<ICscClient, CscClient>()
            .ConfigurePrimaryHttpMessageHandler(() => CscClient.CreateHandler(csc))
            .AddStandardResilienceHandler(resilience =>
            {
                resilience.AttemptTimeout.Timeout = TimeSpan.FromSeconds(csc.AttemptTimeoutSeconds);
                resilience.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(Math.Max(30, 2 * csc.AttemptTimeoutSeconds));
                resilience.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(csc.AttemptTimeoutSeconds * (csc.Retries + 1) + 10);
                resilience.Retry.MaxRetryAttempts = Math.Max(1, csc.Retries);
                resilience.Retry.Delay = TimeSpan.FromMilliseconds(200);
                resilience.Retry.BackoffType = Polly.DelayBackoffType.Exponential;
                // Every CSC call is idempotent by the contract, so POSTs are retried too (the default).
                resilience.Retry.ShouldHandle = args => ValueTask.FromResult(Transient(args.Outcome));
            });
        services.AddSingleton<SyncRunner>();
    }

    private static bool Transient(Polly.Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: HttpRequestException { HttpRequestError: not HttpRequestError.SecureConnectionError } } => true,
        { Exception: Polly.Timeout.TimeoutRejectedException } => true,
        { Result: { } response } => (int)response.StatusCode >= 500 || response.StatusCode is System.Net.HttpStatusCode.RequestTimeout
            or System.Net.HttpStatusCode.TooManyRequests,
        _ => false,
    };
}
