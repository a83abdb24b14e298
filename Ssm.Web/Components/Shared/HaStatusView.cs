using Microsoft.AspNetCore.Components;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Shared;

/// <summary>
/// Base of the components that show the cluster: loads the status, reloads it when the node announces a
/// change, and once a second so ages stay honest.
/// </summary>
public abstract class HaStatusView : ComponentBase, IDisposable
{
    [Inject] protected UiSender Sender { get; set; } = default!;
    [Inject] protected ChangeNotifier Notifier { get; set; } = default!;

    protected HaStatus? Status { get; private set; }
    private PeriodicTimer? _timer;
    private readonly CancellationTokenSource _stop = new();

    protected override async Task OnInitializedAsync() => Status = await Sender.Send(new GetHaStatus());

    protected override void OnAfterRender(bool firstRender)
    {
        if (!firstRender)
            return;
        Notifier.Changed += OnChanged;
        _timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        _ = TickAsync();
    }

    private async Task TickAsync()
    {
        try
        {
            while (await _timer!.WaitForNextTickAsync(_stop.Token))
                await RefreshAsync();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void OnChanged(ChangeTopic topic) => _ = RefreshAsync();

    private Task RefreshAsync() => InvokeAsync(async () =>
    {
        if (_stop.IsCancellationRequested)
            return;
        Status = await Sender.Send(new GetHaStatus());
        StateHasChanged();
    });

    public void Dispose()
    {
        Notifier.Changed -= OnChanged;
        _stop.Cancel();
        _timer?.Dispose();
        GC.SuppressFinalize(this);
    }
}
