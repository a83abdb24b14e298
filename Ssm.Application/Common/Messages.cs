using Ssm.Domain.Events;

namespace Ssm.Application.Common;

/// <summary>A command that changes state and therefore lands in the Event Log, also when it fails.</summary>
public interface IAudited
{
    EventCategory Category { get; }
    string Subject { get; }
}

/// <summary>A command only an admin may send; viewers are read-only.</summary>
public interface IAdminOnly;
