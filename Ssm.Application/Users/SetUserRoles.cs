using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>Makes the user a system administrator, a viewer of all accounts, or a viewer or administrator of chosen accounts.</summary>
[Sender(SenderRole.Admin)]
public sealed record SetUserRoles(string UserName, UserRole Role, IReadOnlyList<AccountGrant>? Grants = null) : ICommand<UserDto>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => UserName;
}

public sealed class SetUserRolesValidator : AbstractValidator<SetUserRoles>
{
    public SetUserRolesValidator() => this.AddRoleRules(x => x.Role, x => x.Grants);
}

public sealed class SetUserRolesHandler(IDocumentSession session, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<SetUserRoles, UserDto>
{
    public async ValueTask<UserDto> Handle(SetUserRoles command, CancellationToken cancellationToken)
    {
        var target = await UserAdministration.LoadAsync(session, command.UserName, cancellationToken);
        if (command.Role != UserRole.Admin)
            await UserAdministration.EnsureAnotherAdminRemainsAsync(session, target, cancellationToken);
        var grants = command.Grants ?? [];
        await UserAdministration.EnsureAccountsExistAsync(session, grants, cancellationToken);
        var before = UserAdministration.Describe(target.Role, target.Grants);
        target.SetRoles(command.Role, grants);
        session.Store(target);
        session.RecordSuccess(command, user, clock, $"was {before}; now {UserAdministration.Describe(target.Role, target.Grants)}");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return await UserDto.OfAsync(session, target, cancellationToken);
    }
}
