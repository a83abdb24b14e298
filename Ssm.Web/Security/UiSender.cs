using Mediator;
using Microsoft.AspNetCore.Components.Authorization;

namespace Ssm.Web.Security;

/// <summary>
/// Sends a message from a Blazor component in a fresh DI scope, as the signed-in user, so no Marten
/// session lives as long as the circuit.
/// </summary>
public sealed class UiSender(IServiceScopeFactory scopes, AuthenticationStateProvider authentication)
{
    public async Task<TResponse> Send<TResponse>(ICommand<TResponse> command, CancellationToken cancellationToken = default)
    {
        await using var scope = await BeginAsync();
        return await scope.ServiceProvider.GetRequiredService<ISender>().Send(command, cancellationToken);
    }

    public async Task<TResponse> Send<TResponse>(IQuery<TResponse> query, CancellationToken cancellationToken = default)
    {
        await using var scope = await BeginAsync();
        return await scope.ServiceProvider.GetRequiredService<ISender>().Send(query, cancellationToken);
    }

    private async Task<AsyncServiceScope> BeginAsync()
    {
        var state = await authentication.GetAuthenticationStateAsync();
        var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = state.User;
        return scope;
    }
}
