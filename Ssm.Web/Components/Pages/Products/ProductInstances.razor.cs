using FluentValidation;
using Microsoft.AspNetCore.Components;
using MudBlazor;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Products;
using Ssm.Web.Components.Shared;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Products;

public partial class ProductInstances : IDisposable
{
    [Inject] private UiSender Sender { get; set; } = default!;
    [Inject] private ChangeNotifier Notifier { get; set; } = default!;

    private MudTable<ProductInstanceRow>? _table;
    private IReadOnlyList<AccountDto> _accounts = [];
    private Guid? _accountId;
    private Guid? _virtualAccountId;
    private IReadOnlyList<VirtualAccountDto> _virtualAccounts = [];
    // The virtual accounts of the expanded product's account, and the one chosen to move it to.
    private IReadOnlyList<VirtualAccountDto> _moveTargets = [];
    private Guid? _moveTo;
    private string? _search;
    private ProductInstancePage? _page;
    private Guid? _expanded;
    private ProductInstanceDetails? _details;
    private ProductInstanceRow? _removing;
    private string? _error;
    private RefreshGate? _refresh;
    // The page shown: the table's page index, the position it was asked for by, and under which filter and sort.
    private int _shownIndex;
    private SeekPosition _position = SeekPosition.First;
    private object? _shownFilter;

    private string PageText => _page is null ? "" : $"Page {_page.PageNumber:N0} of {(_page.TotalKind == TotalKind.Exact ? "" : "about ")}"
        + $"{Math.Max(_page.PageNumber, (_page.Total + _page.PageSize - 1) / _page.PageSize):N0}";

    private string TotalText => _page switch
    {
        null => "",
        { TotalKind: TotalKind.Estimate } => $"about {_page.Total:N0} product instances",
        { TotalKind: TotalKind.AtLeast } => $"more than {_page.Total:N0} product instances: narrow the search to see them all",
        _ => $"{_page.Total:N0} product instance{(_page.Total == 1 ? "" : "s")}",
    };

    private static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm");

    protected override async Task OnInitializedAsync() =>
        _accounts = (await Sender.Send(new ListAccounts(PageSize: PagingRules.MaxPageSize))).Items;

    private async Task<TableData<ProductInstanceRow>> LoadAsync(TableState state, CancellationToken cancellationToken)
    {
        var sort = Enum.TryParse<ProductSort>(state.SortLabel, out var label) ? label : ProductSort.Name;
        var descending = state.SortDirection == SortDirection.Descending;
        var filter = (_accountId, _virtualAccountId, _search, sort, descending, state.PageSize);
        var position = PositionFor(state.Page, filter);
        try
        {
            _error = null;
            _page = await Sender.Send(new ListProductInstances(_accountId, _search, sort, descending, position.PageNumber, state.PageSize,
                _accountId is null ? null : _virtualAccountId, position.After, position.Before, position.Last), cancellationToken);
            (_shownIndex, _position, _shownFilter) = (state.Page, position, filter);
            return new TableData<ProductInstanceRow> { Items = _page.Items, TotalItems = (int)Math.Min(int.MaxValue, _page.Total) };
        }
        catch (ValidationException ex)
        {
            _error = ErrorText.Describe(ex);
            return new TableData<ProductInstanceRow> { Items = [], TotalItems = 0 };
        }
    }

    /// <summary>
    /// The table's pager moves one page at a time or to either end: each is asked for by the key of the row next to it
    /// (decision 0034), never by counting rows from the start. A new filter or sort starts on the first page.
    /// </summary>
    private SeekPosition PositionFor(int index, object filter)
    {
        if (_page is null || index == 0 || !filter.Equals(_shownFilter))
            return SeekPosition.First;
        if (index == _shownIndex)
            return _position;
        var move = index == _shownIndex + 1 ? PageMove.Next : index == _shownIndex - 1 ? PageMove.Previous : index > _shownIndex ? PageMove.Last : PageMove.First;
        var pageCount = (int)Math.Min(int.MaxValue, (_page.Total + _page.PageSize - 1) / _page.PageSize);
        return _position.Move(move, _page.PageNumber, pageCount, _page.Previous, _page.Next) ?? _position;
    }

    private Task ReloadAsync() => _table?.ReloadServerData() ?? Task.CompletedTask;

    private Task SearchAsync(string? search)
    {
        _search = search;
        return ReloadAsync();
    }

    private async Task AccountChangedAsync(Guid? accountId)
    {
        _accountId = accountId;
        _virtualAccountId = null;
        _virtualAccounts = accountId is { } id ? await Sender.Send(new ListVirtualAccounts(id)) : [];
        await ReloadAsync();
    }

    private Task VirtualAccountChangedAsync(Guid? virtualAccountId)
    {
        _virtualAccountId = virtualAccountId;
        return ReloadAsync();
    }

    private async Task MoveAsync(ProductInstanceRow row)
    {
        if (_moveTo is not { } target)
            return;
        try
        {
            await Sender.Send(new MoveProductInstances([row.Id], target));
            _moveTo = null;
            await ReloadAsync();
        }
        catch (Exception ex) when (ErrorText.IsRefusal(ex))
        {
            _error = ErrorText.Describe(ex);
        }
    }

    private async Task ToggleDetailsAsync(ProductInstanceRow row)
    {
        _removing = null;
        if (_expanded == row.Id)
        {
            _expanded = null;
            return;
        }
        _expanded = row.Id;
        _moveTo = null;
        _moveTargets = await Sender.Send(new ListVirtualAccounts(row.AccountId));
        _details = await LoadDetailsAsync(row.Id);
    }

    private async Task<ProductInstanceDetails?> LoadDetailsAsync(Guid id)
    {
        try
        {
            return await Sender.Send(new GetProductInstance(id));
        }
        catch (NotFoundException ex)
        {
            _error = ex.Message;
            return null;
        }
    }

    private void StartRemove(ProductInstanceRow row)
    {
        _expanded = null;
        _removing = row;
    }

    private async Task RemoveAsync()
    {
        if (_removing is not { } row)
            return;
        try
        {
            await Sender.Send(new RemoveProductInstance(row.Id));
            _removing = null;
            await ReloadAsync();
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
            await ReloadAsync();
            if (_expanded is { } id)
                _details = await LoadDetailsAsync(id);
            StateHasChanged();
        }));
        Notifier.Changed += OnChanged;
    }

    private void OnChanged(ChangeTopic topic)
    {
        if (topic is ChangeTopic.Products or ChangeTopic.Accounts)
            _refresh?.Request();
    }

    public void Dispose()
    {
        Notifier.Changed -= OnChanged;
        _refresh?.Dispose();
    }
}
