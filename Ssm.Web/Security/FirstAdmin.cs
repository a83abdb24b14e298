using Mediator;
using Ssm.Application.Ha;
using Ssm.Application.Users;

namespace Ssm.Web.Security;

/// <summary>
/// There is no built-in password. On a node with no users yet, the first admin is created from
/// SSM_ADMIN_PASSWORD if it is set; otherwise the log says how to create one.
/// </summary>
public sealed class FirstAdmin(IServiceScopeFactory scopes, IConfiguration configuration, ClusterSupervisor supervisor, ILogger<FirstAdmin> logger)
    : IHostedService
{
    public const string PasswordVariable = "SSM_ADMIN_PASSWORD";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // A standby or a node rejoining has no writable database; the active's users replicate to it.
        if (!supervisor.AcceptsWrites)
            return;
        try
        {
            await CreateIfNoneAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A standby or a stopped node cannot write; the active node's users replicate here.
            logger.LogInformation("First admin not checked on this node: {Error}", ex.Message);
        }
    }

    private async Task CreateIfNoneAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = CurrentUser.Console;
        var sender = scope.ServiceProvider.GetRequiredService<ISender>();
        if (await sender.Send(new HasAnyUser(), cancellationToken))
            return;

        var password = configuration[PasswordVariable];
        if (string.IsNullOrEmpty(password))
        {
            logger.LogWarning("No user can log in yet: run `ssm admin set-password --user admin`, or start the node with {Variable} set",
                PasswordVariable);
            return;
        }
        await sender.Send(new SetUserPassword("admin", password), cancellationToken);
        logger.LogInformation("First admin 'admin' created from {Variable}", PasswordVariable);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
