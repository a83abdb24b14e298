namespace Ssm.Application.Common;

public enum ChangeTopic
{
    Accounts,
    Events,
    Node,
    Sync,
    Licenses,
    Certificates,
    Registration,
    Products,
    Backups,
}

/// <summary>
/// In-process fan-out of "something changed" so open dashboards refresh without polling.
/// Handlers publish after their transaction commits; components subscribe.
/// </summary>
public sealed class ChangeNotifier
{
    public event Action<ChangeTopic>? Changed;

    public void Publish(ChangeTopic topic) => Changed?.Invoke(topic);
}
