using FluentValidation;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using MudBlazor;
using Ssm.Application.Common;
using Ssm.Application.Sync;
using Ssm.Domain.Sync;
using Ssm.Web.Components.Shared;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Sync;

public partial class Synchronization : IDisposable
{
    [Inject] private UiSender Sender { get; set; } = default!;
    [Inject] private ChangeNotifier Notifier { get; set; } = default!;
    [Inject] private IJSRuntime Js { get; set; } = default!;

    private string? _offlineResult;

    private IReadOnlyList<SyncAlert> _alerts = [];
    private Page<SyncRunDto>? _runs;
    private SyncRunDto? _running;
    private SyncScheduleDto? _schedule;
    private SeekPosition _position = SeekPosition.First;
    private string? _error;

    private SyncFrequency _frequency = SyncFrequency.Daily;
    private string _at = "02:00";
    private DayOfWeek _dayOfWeek = DayOfWeek.Sunday;
    private int _dayOfMonth = 1;
    private int _interval = 60;

    protected override async Task OnInitializedAsync()
    {
        await LoadAsync();
        if (_schedule is { } s)
        {
            _frequency = s.Frequency;
            _at = s.At.ToString("HH:mm");
            _dayOfWeek = s.DayOfWeek;
            _dayOfMonth = s.DayOfMonth;
            _interval = s.IntervalMinutes;
        }
    }

    private async Task LoadAsync()
    {
        _runs = await Sender.Send(new ListSyncRuns(_position.PageNumber, After: _position.After, Before: _position.Before, Last: _position.Last));
        var latest = _runs.Previous is null ? _runs : await Sender.Send(new ListSyncRuns(1, 1));
        _running = latest.Items.FirstOrDefault(r => r.Result == SyncResult.Running);
        _schedule = await Sender.Send(new GetSyncSchedule());
        _alerts = await Sender.Send(new ListSyncAlerts());
    }

    private static Color ResultColor(SyncResult result) => result switch
    {
        SyncResult.Succeeded => Color.Success,
        SyncResult.Failed => Color.Error,
        SyncResult.Interrupted => Color.Warning,
        _ => Color.Info,
    };

    private async Task SaveScheduleAsync()
    {
        if (!TimeOnly.TryParseExact(_at ?? "", "HH:mm", out var at))
        {
            _error = $"'{_at}' is not a time of day like 02:30.";
            return;
        }
        await RunAsync(() => Sender.Send(new SetSyncSchedule(_frequency, at, _dayOfWeek, _dayOfMonth, _interval)));
    }

    private Task SyncAllAsync() => RunAsync(() => Sender.Send(new SynchronizeNow()));

    private async Task RunAsync(Func<Task> action)
    {
        _error = null;
        _offlineResult = null;
        try
        {
            await action();
            await LoadAsync();
        }
        catch (Exception ex) when (ErrorText.IsRefusal(ex)
                                       || ex is CscRefusedException or IOException)
        {
            _error = ErrorText.Describe(ex);
        }
    }

    private Task DownloadRequestAsync() => RunAsync(async () =>
    {
        var file = await Sender.Send(new CreateOfflineRequest());
        await Js.InvokeVoidAsync("ssmDownload", file.FileName, file.Json);
        _offlineResult = $"{file.FileName}: {file.Accounts} accounts, {file.Items:N0} items to upload.";
    });

    private Task UploadResponseAsync(Microsoft.AspNetCore.Components.Forms.IBrowserFile? file) => RunAsync(async () =>
    {
        if (file is null)
            return;
        if (file.Size > ApplyOfflineResponse.MaxLength)
            throw new Domain.DomainException($"{file.Name} is larger than 1 MB: it is not a CSC response file.");
        using var reader = new StreamReader(file.OpenReadStream(ApplyOfflineResponse.MaxLength));
        var applied = await Sender.Send(new ApplyOfflineResponse(await reader.ReadToEndAsync()));
        _offlineResult = $"{file.Name} applied: {applied.Activated} activated, {applied.Pending} pending, {applied.Rejected} rejected, "
                         + $"{applied.Entitlements} licenses, {applied.BatchesAcknowledged} uploads acknowledged"
                         + (applied.CertificateSigned ? ", certificate signed." : ".")
                         + (applied.Skipped.Count > 0 ? $" Skipped: {string.Join("; ", applied.Skipped)}" : "");
    });

    private Task PageAsync(PageMove move)
    {
        if (_runs is null || _position.Move(move, _runs.PageNumber, _runs.PageCount, _runs.Previous, _runs.Next) is not { } position)
            return Task.CompletedTask;
        _position = position;
        return LoadAsync();
    }

    protected override void OnAfterRender(bool firstRender)
    {
        if (firstRender)
            Notifier.Changed += OnChanged;
    }

    private void OnChanged(ChangeTopic topic)
    {
        if (topic is not (ChangeTopic.Sync or ChangeTopic.Accounts))
            return;
        _ = InvokeAsync(async () =>
        {
            await LoadAsync();
            StateHasChanged();
        });
    }

    public void Dispose() => Notifier.Changed -= OnChanged;
}
