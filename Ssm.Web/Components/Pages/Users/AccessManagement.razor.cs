using FluentValidation;
using Microsoft.AspNetCore.Components;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Users;
using Ssm.Domain;
using Ssm.Domain.Users;
using Ssm.Web.Components.Shared;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Users;

public partial class AccessManagement
{
    /// <summary>A role and its grants being chosen; null access means none on that account.</summary>
    private sealed class RoleChoice
    {
        private readonly Dictionary<Guid, AccountAccess> _grants = [];

        public UserRole Role { get; set; } = UserRole.Accounts;

        public AccountAccess? AccessTo(Guid accountId) => _grants.TryGetValue(accountId, out var access) ? access : null;

        public void Set(Guid accountId, AccountAccess? access)
        {
            if (access is { } a)
                _grants[accountId] = a;
            else
                _grants.Remove(accountId);
        }

        public IReadOnlyList<AccountGrant> Grants => Role == UserRole.Accounts ? _grants.Select(g => new AccountGrant(g.Key, g.Value)).ToList() : [];

        public static RoleChoice Of(UserDto user)
        {
            var choice = new RoleChoice { Role = user.Role };
            foreach (var grant in user.Grants)
                choice.Set(grant.AccountId, grant.Access);
            return choice;
        }
    }

    private static readonly AccountAccess?[] AccessChoices = [null, AccountAccess.Viewer, AccountAccess.Administrator];

    [Inject] private UiSender Sender { get; set; } = default!;
    [Inject] private IValidator<CreateUser> CreateValidator { get; set; } = default!;

    private IReadOnlyList<UserDto>? _users;
    private IReadOnlyList<AccountDto> _accounts = [];
    private string _newName = "";
    private string _newPassword = "";
    private RoleChoice _newRoles = new();
    private Dictionary<string, string> _fieldErrors = [];
    private string? _formError;
    private string? _tableError;
    private string? _tableInfo;
    private bool _busy;

    private string? _editingRoles;
    private RoleChoice _editRoles = new();
    private string? _resetting;
    private string _resetPassword = "";
    private string? _deleting;

    private static string RoleName(UserRole role) => role switch
    {
        UserRole.Admin => "System administrator",
        UserRole.Viewer => "Viewer of all accounts",
        _ => "Chosen accounts",
    };

    private static string AccessName(AccountAccess? access) => access switch
    {
        AccountAccess.Viewer => "Viewer",
        AccountAccess.Administrator => "Administrator",
        _ => "None",
    };

    private static string Describe(UserDto user) => user.Role == UserRole.Accounts
        ? string.Join(", ", user.Grants.Select(g => $"{AccessName(g.Access)} of {g.Account}"))
        : RoleName(user.Role);

    private string? ErrorOf(string field) => _fieldErrors.GetValueOrDefault(field);

    protected override async Task OnInitializedAsync()
    {
        var state = await Authentication.GetAuthenticationStateAsync();
        // The messages refuse anyone else; the page does not even ask.
        if (!state.User.IsInRole(CurrentUser.AdminRole))
            return;
        _accounts = (await Sender.Send(new ListAccounts(PageSize: PagingRules.MaxPageSize))).Items;
        await LoadAsync();
    }

    [Inject] private Microsoft.AspNetCore.Components.Authorization.AuthenticationStateProvider Authentication { get; set; } = default!;

    private async Task LoadAsync() => _users = await Sender.Send(new ListUsers());

    private async Task CreateAsync()
    {
        _formError = null;
        var command = new CreateUser(_newName ?? "", _newPassword ?? "", _newRoles.Role, _newRoles.Grants);
        var result = await CreateValidator.ValidateAsync(command);
        _fieldErrors = FieldErrors.Of(result);
        if (!result.IsValid)
            return;
        _busy = true;
        try
        {
            var created = await Sender.Send(command);
            _newName = "";
            _newPassword = "";
            _newRoles = new RoleChoice();
            _tableInfo = $"{created.UserName} created: they choose their own password at first login.";
            await LoadAsync();
        }
        catch (ConflictException ex)
        {
            _fieldErrors[nameof(CreateUser.UserName)] = ex.Message;
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

    private void StartRoles(UserDto user)
    {
        _resetting = _deleting = null;
        _editingRoles = user.UserName;
        _editRoles = RoleChoice.Of(user);
    }

    private void StartReset(UserDto user)
    {
        _editingRoles = _deleting = null;
        _resetting = user.UserName;
        _resetPassword = "";
    }

    private void StartDelete(UserDto user)
    {
        _editingRoles = _resetting = null;
        _deleting = user.UserName;
    }

    private Task SaveRolesAsync(UserDto user) => RunAsync(async () =>
    {
        var saved = await Sender.Send(new SetUserRoles(user.UserName, _editRoles.Role, _editRoles.Grants));
        _editingRoles = null;
        _tableInfo = $"{saved.UserName} is now: {Describe(saved)}.";
    });

    private Task SetDisabledAsync(UserDto user, bool disabled) => RunAsync(async () =>
    {
        await Sender.Send(new SetUserDisabled(user.UserName, disabled));
        _tableInfo = $"{user.UserName} {(disabled ? "disabled: their sessions end within seconds" : "enabled")}.";
    });

    private Task ResetAsync(UserDto user) => RunAsync(async () =>
    {
        await Sender.Send(new ResetUserPassword(user.UserName, _resetPassword ?? ""));
        _resetting = null;
        _resetPassword = "";
        _tableInfo = $"{user.UserName} signs in with the temporary password once and must then choose their own.";
    });

    private Task DeleteAsync(UserDto user) => RunAsync(async () =>
    {
        await Sender.Send(new DeleteUser(user.UserName));
        _deleting = null;
        _tableInfo = $"{user.UserName} deleted.";
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
        catch (Exception ex) when (ErrorText.IsRefusal(ex))
        {
            _tableError = ErrorText.Describe(ex);
        }
    }
}
