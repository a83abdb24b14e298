using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>Disables a user (their sessions end within seconds and they cannot sign in) or enables them again.</summary>
[Sender(SenderRole.Admin)]
public sealed record SetUserDisabled(string UserName, bool Disabled) : ICommand<UserDto>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => UserName;
}

public sealed class SetUserDisabledHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<SetUserDisabled, UserDto>
{
    public async ValueTask<UserDto> Handle(SetUserDisabled command, CancellationToken cancellationToken)
    {
        var target = await UserAdministration.LoadAsync(session, command.UserName, cancellationToken);
        if (command.Disabled)
            await UserAdministration.EnsureAnotherAdminRemainsAsync(session, target, cancellationToken);
        target.SetDisabled(command.Disabled);
        session.Store(target);
        session.RecordSuccess(command, user, clock, command.Disabled ? "disabled" : "enabled");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return await UserDto.OfAsync(session, target, cancellationToken);
    }
}
