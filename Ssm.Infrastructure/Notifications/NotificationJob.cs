using Mediator;
using Quartz;
using Ssm.Application.Notifications;

namespace Ssm.Infrastructure.Notifications;

/// <summary>Every two seconds on each node: queue notifications for what happened since the last look.</summary>
[DisallowConcurrentExecution]
public sealed class NotificationJob(ISender sender) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) =>
        await sender.Send(new DispatchNotifications(), cancellationToken);
}
