namespace Ssm.Domain.Products;

/// <summary>
/// A registered network product (the Smart Transport endpoint creates them). Synchronization uploads
/// each one to CSC once: <see cref="UploadBatch"/> is the batch it went up in, null until then.
/// </summary>
public sealed class ProductInstance
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public string Pid { get; set; } = "";
    public string SerialNumber { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset RegisteredAt { get; set; }
    public string? UploadBatch { get; set; }
}

/// <summary>License usage a product reported for a time window (modelled on a RUM report).</summary>
public sealed class UsageRecord
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public Guid InstanceId { get; set; }
    public string ReportId { get; set; } = "";
    public string Tag { get; set; } = "";
    public int Count { get; set; }
    public DateTimeOffset From { get; set; }
    public DateTimeOffset To { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }
    public string? UploadBatch { get; set; }
}
