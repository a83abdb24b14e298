using FluentValidation;
using Microsoft.AspNetCore.Components;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Domain;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Accounts;

/// <summary>An account's virtual accounts: list them with what they hold; create, rename, delete one when empty.</summary>
public partial class VirtualAccounts
{
    [Parameter, EditorRequired] public AccountDto Account { get; set; } = default!;

    [Inject] private UiSender Sender { get; set; } = default!;

    private IReadOnlyList<VirtualAccountDto>? _virtualAccounts;
    private VirtualAccountDto? _editing;
    private string _name = "";
    private string _description = "";
    private string? _error;
    private bool _busy;

    protected override async Task OnParametersSetAsync() => _virtualAccounts = await Sender.Send(new ListVirtualAccounts(Account.Id));

    private void StartEdit(VirtualAccountDto virtualAccount) => (_editing, _name, _description) = (virtualAccount, virtualAccount.Name, virtualAccount.Description);

    private void CancelEdit() => (_editing, _name, _description) = (null, "", "");

    private Task SaveAsync() => RunAsync(async () =>
    {
        if (_editing is { } editing)
            await Sender.Send(new UpdateVirtualAccount(editing.Id, _name ?? "", _description ?? ""));
        else
            await Sender.Send(new CreateVirtualAccount(Account.Id, _name ?? "", _description ?? ""));
        CancelEdit();
    });

    private Task DeleteAsync(VirtualAccountDto virtualAccount) => RunAsync(() => Sender.Send(new DeleteVirtualAccount(virtualAccount.Id)));

    private async Task RunAsync(Func<Task> action)
    {
        _error = null;
        _busy = true;
        try
        {
            await action();
            _virtualAccounts = await Sender.Send(new ListVirtualAccounts(Account.Id));
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
