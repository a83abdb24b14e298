using FluentValidation;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using Ssm.Application.Accounts;
using Ssm.Application.Api;
using Ssm.Application.Common;
using Ssm.Domain;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Accounts;

/// <summary>An account's API toolkit clients: create one (its secret shown once), list them, revoke one.</summary>
public partial class ApiClients
{
    [Parameter, EditorRequired] public AccountDto Account { get; set; } = default!;

    [Inject] private UiSender Sender { get; set; } = default!;
    [Inject] private IJSRuntime Js { get; set; } = default!;

    private IReadOnlyList<ApiClientDto>? _clients;
    private string _name = "";
    private CreatedApiClient? _created;
    private Guid? _revoking;
    private string? _error;
    private bool _busy;

    protected override async Task OnParametersSetAsync() => _clients = await Sender.Send(new ListApiClients(Account.Id));

    private Task CreateAsync() => RunAsync(async () =>
    {
        _created = await Sender.Send(new CreateApiClient(Account.Id, _name ?? ""));
        _name = "";
    });

    private Task RevokeAsync(ApiClientDto client) => RunAsync(async () =>
    {
        await Sender.Send(new RevokeApiClient(client.Id));
        _revoking = null;
    });

    // The clipboard may be refused (plain http, no permission); the secret stays on screen to copy by hand.
    private async Task CopySecretAsync()
    {
        if (_created is null)
            return;
        try
        {
            await Js.InvokeVoidAsync("navigator.clipboard.writeText", _created.Secret);
        }
        catch (JSException)
        {
        }
    }

    private async Task RunAsync(Func<Task> action)
    {
        _error = null;
        _busy = true;
        try
        {
            await action();
            _clients = await Sender.Send(new ListApiClients(Account.Id));
        }
        catch (Exception ex) when (ErrorText.IsRefusal(ex))
        {
            _error = ErrorText.Describe(ex);
        }
        finally
        {
            _busy = false;
        }
    }
}
