using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

/// <summary>
/// A new user with a first password chosen by the administrator, which the user must replace at their first login.
/// <see cref="UserRole.Accounts"/> users reach only the accounts of <see cref="Grants"/>.
/// </summary>
[Sender(SenderRole.Admin)]
public sealed record CreateUser(string UserName, string Password, UserRole Role, IReadOnlyList<AccountGrant>? Grants = null) : ICommand<UserDto>, IAudited
{
    public EventCategory Category => EventCategory.Security;
    public string Subject => UserName;
    public override string ToString() => $"CreateUser {{ UserName = {UserName}, Role = {Role} }}";
}

public sealed class CreateUserValidator : AbstractValidator<CreateUser>
{
    public CreateUserValidator()
    {
        RuleFor(x => x.UserName).Must(UserRules.IsValidUserName)
            .WithMessage("User name must be 1–32 letters, digits, dots, dashes or underscores.");
        this.AddPasswordRules(x => x.Password, x => x.UserName);
        this.AddRoleRules(x => x.Role, x => x.Grants);
    }
}

public sealed class CreateUserHandler(IDocumentSession session, IPasswordHasher hasher, ICurrentUser user, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<CreateUser, UserDto>
{
    public async ValueTask<UserDto> Handle(CreateUser command, CancellationToken cancellationToken)
    {
        var id = UserAccount.KeyOf(command.UserName);
        if (await session.LoadAsync<UserAccount>(id, cancellationToken) is not null)
            throw new ConflictException($"A user '{id}' exists already.");
        var grants = command.Grants ?? [];
        await UserAdministration.EnsureAccountsExistAsync(session, grants, cancellationToken);
        var created = new UserAccount { Id = id };
        created.ResetPassword(hasher.Hash(command.Password));
        created.SetRoles(command.Role, grants);
        session.Insert(created);
        session.RecordSuccess(command, user, clock, $"{UserAdministration.Describe(created.Role, created.Grants)}; must choose a password at first login");
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return await UserDto.OfAsync(session, created, cancellationToken);
    }
}
