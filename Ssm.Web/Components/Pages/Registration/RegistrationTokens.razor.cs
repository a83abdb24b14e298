using FluentValidation;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using MudBlazor;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Registration;
using Ssm.Domain;
using Ssm.Domain.Registration;
using Ssm.Web.Components.Shared;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Registration;

public partial class RegistrationTokens : IDisposable
{
    private sealed class CreateForm
    {
        public string Description { get; set; } = "";
        public int ExpiresInDays { get; set; } = 30;
        public int? MaxUses { get; set; }
        public bool AllowExportControlled { get; set; }

        public CreateRegistrationToken ToCommand(Guid accountId, Guid? virtualAccountId) =>
            new(accountId, Description ?? "", ExpiresInDays, MaxUses, AllowExportControlled, virtualAccountId);
    }

    [Inject] private UiSender Sender { get; set; } = default!;
    [Inject] private ChangeNotifier Notifier { get; set; } = default!;
    [Inject] private IValidator<CreateRegistrationToken> CreateValidator { get; set; } = default!;
    [Inject] private IJSRuntime Js { get; set; } = default!;

    private readonly DialogOptions _dialogOptions = new() { MaxWidth = MaxWidth.Medium, BackdropClick = false, CloseOnEscapeKey = true };

    private IReadOnlyList<AccountDto> _accounts = [];
    private bool _loaded;
    private Guid? _accountId;
    // A new token goes to the chosen virtual account, or to DEFAULT while all are shown.
    private Guid? _virtualAccountId;
    private IReadOnlyList<VirtualAccountDto> _virtualAccounts = [];
    private IReadOnlyList<RegistrationTokenDto>? _tokens;
    private RegistrationTokenDto? _revoking;
    private string? _error;

    private bool _dialogOpen;
    private CreateForm _form = new();
    private Dictionary<string, string> _fieldErrors = [];
    private string? _formError;
    private bool _busy;
    /// <summary>The one time the token's text exists outside the product: cleared when the dialog closes.</summary>
    private CreatedRegistrationToken? _created;
    private bool _copied;
    /// <summary>A token's text shown again on an admin's request: one at a time, cleared on hide, reload and account change.</summary>
    private ShownRegistrationToken? _shown;
    private bool _shownCopied;
    private RefreshGate? _refresh;

    private static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm");

    private static string StatusText(TokenStatus status) => status == TokenStatus.UsedUp ? "Used up" : status.ToString();

    private static Color StatusColor(TokenStatus status) => status switch
    {
        TokenStatus.Active => Color.Success,
        TokenStatus.Revoked => Color.Error,
        _ => Color.Default,
    };

    private string? ErrorOf(string field) => _fieldErrors.GetValueOrDefault(field);

    [Inject] private Microsoft.AspNetCore.Components.Authorization.AuthenticationStateProvider Authentication { get; set; } = default!;

    private System.Security.Claims.ClaimsPrincipal? _user;

    protected override async Task OnInitializedAsync()
    {
        _user = (await Authentication.GetAuthenticationStateAsync()).User;
        _accounts = (await Sender.Send(new ListAccounts(PageSize: PagingRules.MaxPageSize))).Items;
        _accountId = _accounts.FirstOrDefault()?.Id;
        _loaded = true;
        await LoadAsync();
    }

    private async Task LoadAsync()
    {
        _tokens = _accountId is { } id ? await Sender.Send(new ListRegistrationTokens(id)) : null;
        _virtualAccounts = _accountId is { } account ? await Sender.Send(new ListVirtualAccounts(account)) : [];
        if (_virtualAccountId is { } chosen && _virtualAccounts.All(v => v.Id != chosen))
            _virtualAccountId = null;
        // A token revoked or expired meanwhile is no longer shown.
        if (_shown is { } shown && _tokens?.Any(t => t.Id == shown.Id && t.CanBeShown) != true)
            HideShown();
    }

    private void VirtualAccountChanged(Guid? virtualAccountId) => _virtualAccountId = virtualAccountId;

    private string VirtualAccountName(Guid id) => _virtualAccounts.FirstOrDefault(v => v.Id == id)?.Name ?? "";

    private async Task AccountChangedAsync(Guid? accountId)
    {
        _accountId = accountId;
        _revoking = null;
        HideShown();
        await LoadAsync();
    }

    private void OpenNewToken()
    {
        _form = new CreateForm();
        _fieldErrors = [];
        _formError = null;
        _created = null;
        _copied = false;
        _dialogOpen = true;
    }

    private void CloseDialog()
    {
        _dialogOpen = false;
        _created = null;
    }

    private async Task CreateAsync()
    {
        _formError = null;
        var command = _form.ToCommand(_accountId ?? Guid.Empty, _virtualAccountId);
        // The command's own validator gives the field messages before anything is sent.
        var result = await CreateValidator.ValidateAsync(command);
        _fieldErrors = FieldErrors.Of(result);
        if (!result.IsValid)
            return;

        _busy = true;
        try
        {
            _created = await Sender.Send(command);
            await LoadAsync();
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

    private async Task CopyAsync()
    {
        if (_created is null)
            return;
        await Js.InvokeVoidAsync("navigator.clipboard.writeText", _created.Secret);
        _copied = true;
    }

    private async Task ShowAsync(RegistrationTokenDto token)
    {
        _error = null;
        _shownCopied = false;
        try
        {
            _shown = await Sender.Send(new ShowRegistrationToken(token.Id));
        }
        catch (Exception ex) when (ErrorText.IsRefusal(ex))
        {
            _shown = null;
            _error = ErrorText.Describe(ex);
        }
    }

    private void HideShown()
    {
        _shown = null;
        _shownCopied = false;
    }

    private async Task CopyShownAsync()
    {
        if (_shown is null)
            return;
        await Js.InvokeVoidAsync("navigator.clipboard.writeText", _shown.Text);
        _shownCopied = true;
    }

    private async Task RevokeAsync()
    {
        if (_revoking is not { } token)
            return;
        _error = null;
        try
        {
            await Sender.Send(new RevokeRegistrationToken(token.Id));
            _revoking = null;
            await LoadAsync();
        }
        catch (Exception ex) when (ErrorText.IsRefusal(ex))
        {
            _error = ErrorText.Describe(ex);
        }
    }

    protected override void OnAfterRender(bool firstRender)
    {
        if (!firstRender)
            return;
        _refresh = new RefreshGate(() => InvokeAsync(async () =>
        {
            _accounts = (await Sender.Send(new ListAccounts(PageSize: PagingRules.MaxPageSize))).Items;
            await LoadAsync();
            StateHasChanged();
        }));
        Notifier.Changed += OnChanged;
    }

    private void OnChanged(ChangeTopic topic)
    {
        // Products registering use up tokens.
        if (topic is ChangeTopic.Registration or ChangeTopic.Accounts or ChangeTopic.Products)
            _refresh?.Request();
    }

    public void Dispose()
    {
        Notifier.Changed -= OnChanged;
        _refresh?.Dispose();
    }
}
