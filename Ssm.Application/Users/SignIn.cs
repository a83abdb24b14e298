using FluentValidation;
using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Events;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

public sealed record SignInOutcome(bool Succeeded, string UserName, UserRole Role, string Error)
{
    public static SignInOutcome Failed(string error) => new(false, "", UserRole.Viewer, error);
}

/// <summary>Checks a password and keeps the lockout counters. Both outcomes are written to the Event Log.</summary>
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

public sealed class SignInHandler(IDocumentStore store, IPasswordHasher hasher, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<SignIn, SignInOutcome>
{
    public const string WrongCredentials = "Wrong user name or password.";
    private const int Attempts = 30;

    // Checked against for unknown users, so their answer takes as long as a known user's.
    private readonly Lazy<string> _decoy = new(() => hasher.Hash(Guid.NewGuid().ToString()));

    public async ValueTask<SignInOutcome> Handle(SignIn command, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var session = store.LightweightSession();
                return await TryAsync(session, command, cancellationToken);
            }
            catch (JasperFx.ConcurrencyException) when (attempt < Attempts)
            {
                // Another login changed the counters meanwhile: count again on fresh data.
                await Task.Delay(Random.Shared.Next(1, 5 * attempt), cancellationToken);
            }
        }
    }

    private async Task<SignInOutcome> TryAsync(IDocumentSession session, SignIn command, CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var name = UserAccount.KeyOf(command.UserName);
        var account = await session.LoadAsync<UserAccount>(name, cancellationToken);

        SignInOutcome result;
        if (account is null)
        {
            hasher.Verify(_decoy.Value, command.Password);
            result = SignInOutcome.Failed(WrongCredentials);
        }
        else if (account.IsLockedOut(now))
            result = SignInOutcome.Failed($"This user is locked out until {account.LockedOutUntil:HH:mm:ss} UTC after repeated failed logins.");
        else if (!hasher.Verify(account.PasswordHash, command.Password))
        {
            account.RecordFailedLogin(now);
            session.Store(account);
            result = SignInOutcome.Failed(account.IsLockedOut(now)
                ? $"Wrong password. This user is now locked out until {account.LockedOutUntil:HH:mm:ss} UTC."
                : WrongCredentials);
        }
        else
        {
            account.RecordSuccessfulLogin();
            session.Store(account);
            result = new SignInOutcome(true, account.Id, account.Role, "");
        }

        session.Store(EventLogEntry.Record(now, name, EventCategory.Security, nameof(SignIn), name,
            result.Succeeded ? EventOutcome.Success : EventOutcome.Failure, result.Error));
        await session.SaveChangesAsync(cancellationToken);
        notifier.Publish(ChangeTopic.Events);
        return result;
    }
}
