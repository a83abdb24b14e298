using FluentValidation;
using Microsoft.AspNetCore.Components;
using MudBlazor;
using Ssm.Application.Backups;
using Ssm.Application.Common;
using Ssm.Domain.Backups;
using Ssm.Web.Security;

namespace Ssm.Web.Components.Pages.Backups;

public partial class Backups : IDisposable
{
    [Inject] private UiSender Sender { get; set; } = default!;
    [Inject] private ChangeNotifier Notifier { get; set; } = default!;

    private BackupsDto? _backups;
    private bool _enabled;
    private int _intervalHours;
    private int _retention;
    private string? _passphrase;
    private bool _busy;
    private string? _message;
    private bool _failed;

    protected override async Task OnInitializedAsync()
    {
        try
        {
            await LoadAsync();
            var schedule = _backups!.Schedule;
            (_enabled, _intervalHours, _retention) = (schedule.Enabled, schedule.IntervalHours, schedule.Retention);
        }
        catch (ForbiddenException)
        {
            _backups = null; // not a system administrator: the page says why there is nothing here
        }
    }

    private async Task LoadAsync() => _backups = await Sender.Send(new GetBackups());

    private static Color ResultColor(BackupResult result) => result switch
    {
        BackupResult.Succeeded => Color.Success,
        BackupResult.Failed => Color.Error,
        BackupResult.Removed => Color.Default,
        _ => Color.Info,
    };

    private Task SaveAsync() => RunAsync(async () =>
    {
        await Sender.Send(new SetBackupSchedule(_enabled, _intervalHours, _retention, string.IsNullOrEmpty(_passphrase) ? null : _passphrase));
        _passphrase = null;
        return "Saved.";
    });

    private Task BackUpNowAsync() => RunAsync(async () =>
    {
        _busy = true;
        StateHasChanged();
        var run = await Sender.Send(new BackUpNow());
        return run.Result == BackupResult.Succeeded
            ? $"Backup {run.FileName} written: {run.SizeBytes / 1e6:0.0} MB, {run.Rows:N0} rows, in {run.Duration?.TotalSeconds:0.0} s."
            : throw new ConflictException($"The backup failed: {run.Error}");
    });

    private async Task RunAsync(Func<Task<string>> action)
    {
        try
        {
            _message = await action();
            _failed = false;
        }
        catch (Exception ex) when (ex is ValidationException or ForbiddenException or ConflictException or Domain.DomainException)
        {
            _message = ErrorText.Describe(ex);
            _failed = true;
        }
        finally
        {
            _busy = false;
        }
        await LoadAsync();
    }

    protected override void OnAfterRender(bool firstRender)
    {
        if (firstRender)
            Notifier.Changed += OnChanged;
    }

    private void OnChanged(ChangeTopic topic)
    {
        if (topic != ChangeTopic.Backups || _backups is null)
            return;
        _ = InvokeAsync(async () =>
        {
            await LoadAsync();
            StateHasChanged();
        });
    }

    public void Dispose() => Notifier.Changed -= OnChanged;
}
