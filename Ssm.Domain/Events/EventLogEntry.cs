namespace Ssm.Domain.Events;

public enum EventCategory
{
    Accounts,
    Security,
    Cluster,
    Sync,
    Registration,
}

public enum EventOutcome
{
    Success,
    Failure,
}

/// <summary>One line of the Event Log: who did what, when, and how it ended.</summary>
public sealed class EventLogEntry
{
    public const int DetailMaxLength = 1000;

    public Guid Id { get; set; }
    public DateTimeOffset At { get; set; }
    public string Actor { get; set; } = "";
    public EventCategory Category { get; set; }
    public string Action { get; set; } = "";
    public string Subject { get; set; } = "";
    public EventOutcome Outcome { get; set; }
    public string Detail { get; set; } = "";

    /// <summary>The local account the change was about, when it was about one: users limited to accounts see only theirs.</summary>
    public Guid? AccountId { get; set; }

    public static EventLogEntry Record(DateTimeOffset at, string actor, EventCategory category, string action,
        string? subject, EventOutcome outcome, string? detail = "", Guid? accountId = null) => new()
    {
        Id = Guid.CreateVersion7(at),
        At = at,
        Actor = actor,
        Category = category,
        Action = action,
        Subject = subject is null ? "" : subject.Length > 200 ? subject[..200] : subject,
        Outcome = outcome,
        Detail = detail is null ? "" : detail.Length > DetailMaxLength ? detail[..DetailMaxLength] : detail,
        AccountId = accountId,
    };
}
