namespace Ssm.Domain.Licenses;

/// <summary>A license an account owns at Cisco Software Central, as the last synchronization brought it down.</summary>
public sealed class Entitlement
{
    /// <summary>One per account and license tag: "{accountId}/{tag}".</summary>
    public string Id { get; set; } = "";
    public Guid AccountId { get; set; }
    public string Tag { get; set; } = "";
    public string Name { get; set; } = "";
    public int Quantity { get; set; }
    public DateOnly StartDate { get; set; }
    public DateOnly EndDate { get; set; }
    public DateTimeOffset SyncedAt { get; set; }

    public static string IdOf(Guid accountId, string tag) => $"{accountId}/{tag}";

    public bool IsValidOn(DateOnly day) => StartDate <= day && day <= EndDate;
}
