using Ssm.Domain.Events;

namespace Ssm.Application.Common;

public static class EventLog
{
    /// <summary>Stores the success entry in the caller's session, so it commits with the change itself.</summary>
    public static void RecordSuccess<TCommand>(this IDocumentSession session, TCommand command, ICurrentUser user, IClock clock, string detail = "")
        where TCommand : IAudited =>
        session.Store(EventLogEntry.Record(clock.UtcNow, user.Name, command.Category, ActionOf(command),
            command.Subject, EventOutcome.Success, detail, AccountOf(command)));

    public static string ActionOf(object command) => command.GetType().Name;

    /// <summary>The account an entry is about, so users limited to accounts see the entries of theirs only.</summary>
    public static Guid? AccountOf(object command) => (command as IAccountScoped)?.ScopeAccountId;
}
