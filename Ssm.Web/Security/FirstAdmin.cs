using Mediator;
using Ssm.Application.Ha;
using Ssm.Application.Users;

namespace Ssm.Web.Security;

/// <summary>
/// There is no built-in password. On a node with no users yet, the first admin is created from
/// SSM_ADMIN_PASSWORD if it is set; otherwise the log says how to create one. A node that cannot write
/// yet (a standby, or a first start whose database is still being made when the host starts: decision
/// 0015 lets the host start after 5 s) keeps looking until it can; a standby finds the active's users.
/// </summary>
public sealed class FirstAdmin(IServiceScopeFactory scopes, IConfiguration configuration, ClusterSupervisor supervisor, ILogger<FirstAdmin> logger)
    : IHostedService, IDisposable
{
    public const string PasswordVariable = "SSM_ADMIN_PASSWORD";
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);
    private readonly CancellationTokenSource _stopping = new();
    private Task _retrying = Task.CompletedTask;
    private string? _reported;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the web server listens, as a node that can write should serve its admin from the first request.
        if (!await TryAsync(cancellationToken))
            _retrying = RetryAsync(_stopping.Token);
    }

    private async Task RetryAsync(CancellationToken stoppingToken)
    {
        try
        {
            do
                await Task.Delay(Every, stoppingToken);
            while (!await TryAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<bool> TryAsync(CancellationToken cancellationToken)
    {
        if (!supervisor.AcceptsWrites)
            return false;
        try
        {
            await CreateIfNoneAsync(cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            if (ex.Message != _reported)
                logger.LogInformation("First admin not checked on this node yet: {Error}", _reported = ex.Message);
            return false;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _retrying;
    }

    public void Dispose() => _stopping.Dispose();

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
}
