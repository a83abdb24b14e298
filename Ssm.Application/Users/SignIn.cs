using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

public sealed record SignInOutcome(bool Succeeded, string UserName, UserRole Role, string Error, string SessionId = "", SessionState? State = null)
{
    public static SignInOutcome Failed(string error) => new(false, "", UserRole.Viewer, error);
}

/// <summary>
/// Checks a password and starts a server-side session. Both outcomes are written to the Event Log. Failed
/// attempts are limited per source address by the web host, never by locking the user out everywhere.
/// </summary>
[Sender(SenderRole.Public)]
public sealed record SignIn(string UserName, string Password) : ICommand<SignInOutcome>
{
    public override string ToString() => $"SignIn {{ UserName = {UserName} }}";
}

public sealed class SignInValidator : AbstractValidator<SignIn>
{
    public SignInValidator()
    {
        RuleFor(x => x.UserName).NotEmpty().MaximumLength(32);
        RuleFor(x => x.Password).NotEmpty().MaximumLength(UserRules.PasswordMaxLength);
    }
}

public sealed class SignInHandler(IDocumentSession session, IPasswordHasher hasher, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<SignIn, SignInOutcome>
{
    public const string WrongCredentials = "Wrong user name or password.";
    public const string UserDisabled = "This user is disabled; ask a system administrator.";

    // Checked against for unknown users, so their answer takes as long as a known user's.
    private static string? _decoy;

    public async ValueTask<SignInOutcome> Handle(SignIn command, CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var name = UserAccount.KeyOf(command.UserName);
        var account = await session.LoadAsync<UserAccount>(name, cancellationToken);

        SignInOutcome result;
        if (account is null)
        {
            hasher.Verify(_decoy ??= hasher.Hash(Guid.NewGuid().ToString()), command.Password);
            result = SignInOutcome.Failed(WrongCredentials);
        }
        else if (!hasher.Verify(account.PasswordHash, command.Password))
            result = SignInOutcome.Failed(WrongCredentials);
        // Told only to someone who knows the password.
        else if (account.Disabled)
            result = SignInOutcome.Failed(UserDisabled);
        else
        {
            var started = UserSession.Start(account.Id, now);
            session.Store(started);
            // Sessions past their lifetime are swept here, where new ones are made.
            session.DeleteWhere<UserSession>(s => s.ExpiresAt < now);
            result = new SignInOutcome(true, account.Id, account.Role, "", started.Id, SessionState.Of(account));
        }

        session.Store(EventLogEntry.Record(now, name, EventCategory.Security, nameof(SignIn), name,
            result.Succeeded ? EventOutcome.Success : EventOutcome.Failure, result.Error));
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return result;
    }
}
