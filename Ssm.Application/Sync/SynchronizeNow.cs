using Ssm.Domain.Events;
using Ssm.Domain.Sync;

namespace Ssm.Application.Sync;

/// <summary>"Synchronize now": one account, or every active and requested account when AccountId is null.</summary>
[Sender(SenderRole.Admin)]
public sealed record SynchronizeNow(Guid? AccountId = null) : ICommand<SyncRunDto>, IAudited
{
    public EventCategory Category => EventCategory.Sync;
    public string Subject => AccountId?.ToString() ?? "all accounts";
}

public sealed class SynchronizeNowHandler(SyncRunner runner, ICurrentUser user) : ICommandHandler<SynchronizeNow, SyncRunDto>
{
    public async ValueTask<SyncRunDto> Handle(SynchronizeNow command, CancellationToken cancellationToken) =>
        SyncRunDto.From(await runner.StartAsync(SyncTrigger.Manual, command.AccountId, user.Name, null, cancellationToken));
}

public sealed record SyncRunDto(Guid Id, SyncTrigger Trigger, string Scope, string Node, string StartedBy, DateTimeOffset StartedAt,
    DateTimeOffset? EndedAt, string Stage, int Percent, long ItemsUp, long ItemsDown, SyncResult Result, string? Error)
{
    public static SyncRunDto From(SyncRun r) =>
        new(r.Id, r.Trigger, r.Scope, r.Node, r.StartedBy, r.StartedAt, r.EndedAt, r.Stage, r.Percent, r.ItemsUp, r.ItemsDown, r.Result, r.Error);
}
