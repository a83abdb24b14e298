using FluentValidation;
using Microsoft.AspNetCore.Components;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Domain;
using Ssm.Web.Components.Shared;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Accounts;

public partial class Accounts : IDisposable
{
    private sealed class CreateForm
    {
        public string Name { get; set; } = "";
        public string ContactEmail { get; set; } = "";
        public string Description { get; set; } = "";

        public CreateAccount ToCommand() => new(Name ?? "", Description ?? "", ContactEmail ?? "");
    }

    [Inject] private UiSender Sender { get; set; } = default!;
    [Inject] private ChangeNotifier Notifier { get; set; } = default!;
    [Inject] private IValidator<CreateAccount> CreateValidator { get; set; } = default!;

    private CreateForm _form = new();
    private Dictionary<string, string> _fieldErrors = [];
    private string? _formError;
    private string? _tableError;
    private bool _busy;

    private string? _search;
    private int _pageNumber = 1;
    private Page<AccountDto>? _page;

    private Guid? _editing;
    private string _editDescription = "";
    private AccountDto? _deleting;
    private string _confirmName = "";
    private Guid? _apiClientsFor;
    private Guid? _virtualAccountsFor;

    private enum CredentialsPurpose
    {
        Activate,
        Renew,
    }

    private AccountDto? _credentialsFor;
    private CredentialsPurpose _purpose;
    private string _cscUser = "";
    private string _cscPassword = "";
    private string? _tableInfo;

    private static MudBlazor.Color StatusColor(AccountDto account) => account.Status switch
    {
        Domain.Accounts.AccountStatus.Active => account.TokenExpired ? MudBlazor.Color.Warning : MudBlazor.Color.Success,
        Domain.Accounts.AccountStatus.Requested => MudBlazor.Color.Info,
        Domain.Accounts.AccountStatus.Rejected => MudBlazor.Color.Error,
        _ => MudBlazor.Color.Default,
    };

    private void StartCredentials(AccountDto account, CredentialsPurpose purpose)
    {
        _editing = null;
        _deleting = null;
        _credentialsFor = account;
        _purpose = purpose;
        _cscPassword = "";
    }

    private async Task SubmitCredentialsAsync()
    {
        if (_credentialsFor is not { } account)
            return;
        var credentials = new Application.Sync.CscCredentials(_cscUser ?? "", _cscPassword ?? "");
        _busy = true;
        try
        {
            await RunAsync(async () =>
            {
                var result = _purpose == CredentialsPurpose.Activate
                    ? await Sender.Send(new Application.Sync.RequestActivation(account.Id, credentials))
                    : await Sender.Send(new Application.Sync.RenewAccountToken(account.Id, credentials));
                _credentialsFor = null;
                _cscPassword = "";
                _tableInfo = _purpose == CredentialsPurpose.Activate
                    ? $"CSC answered for {result.Name}: {result.Status}{(result.RejectionReason is { } reason ? $" ({reason})" : "")}."
                    : $"{result.Name}: CSC token renewed, valid until {result.TokenExpiresAt:u}.";
            });
        }
        finally
        {
            _busy = false;
        }
    }

    private Task SyncAsync(AccountDto account) => RunAsync(async () =>
    {
        var run = await Sender.Send(new Application.Sync.SynchronizeNow(account.Id));
        _tableInfo = $"Synchronization of {run.Scope} started: follow it on the Synchronization page.";
    });

    protected override Task OnInitializedAsync() => LoadAsync();

    private async Task LoadAsync() => _page = await Sender.Send(new ListAccounts(_search, _pageNumber));

    private string? ErrorOf(string field) => _fieldErrors.GetValueOrDefault(field);

    private async Task CreateAsync()
    {
        _formError = null;
        var command = _form.ToCommand();
        // The command's own validator gives the field messages before anything is sent.
        var result = await CreateValidator.ValidateAsync(command);
        _fieldErrors = FieldErrors.Of(result);
        if (!result.IsValid)
            return;

        _busy = true;
        try
        {
            await Sender.Send(command);
            _form = new CreateForm();
            await LoadAsync();
        }
        catch (ConflictException ex)
        {
            _fieldErrors[nameof(CreateAccount.Name)] = ex.Message;
        }
        catch (Exception ex) when (ErrorText.IsRefusal(ex))
        {
            _formError = ErrorText.Describe(ex);
        }
        finally
        {
            _busy = false;
        }
    }

    private Task SearchAsync(string? search)
    {
        _search = search;
        _pageNumber = 1;
        return LoadAsync();
    }

    private Task PageAsync(int page)
    {
        _pageNumber = page;
        return LoadAsync();
    }

    private void StartEdit(AccountDto account)
    {
        _deleting = null;
        _editing = account.Id;
        _editDescription = account.Description;
    }

    private void StartDelete(AccountDto account)
    {
        _editing = null;
        _deleting = account;
        _confirmName = "";
    }

    private Task SaveDescriptionAsync(AccountDto account) => RunAsync(async () =>
    {
        await Sender.Send(new UpdateAccountDescription(account.Id, _editDescription ?? ""));
        _editing = null;
    });

    private Task DeleteAsync() => RunAsync(async () =>
    {
        if (_deleting is null)
            return;
        await Sender.Send(new DeleteAccount(_deleting.Id, _confirmName));
        _deleting = null;
    });

    private async Task RunAsync(Func<Task> action)
    {
        _tableError = null;
        _tableInfo = null;
        try
        {
            await action();
            await LoadAsync();
        }
        catch (Exception ex) when (ErrorText.IsRefusal(ex)
                                       || ex is Application.Sync.CscUnreachableException or Application.Sync.CscRefusedException
                                       or Application.Sync.CscTokenExpiredException)
        {
            _tableError = ErrorText.Describe(ex);
        }
    }

    protected override void OnAfterRender(bool firstRender)
    {
        if (firstRender)
            Notifier.Changed += OnChanged;
    }

    private void OnChanged(ChangeTopic topic)
    {
        if (topic != ChangeTopic.Accounts)
            return;
        _ = InvokeAsync(async () =>
        {
            await LoadAsync();
            StateHasChanged();
        });
    }

    public void Dispose() => Notifier.Changed -= OnChanged;
}
