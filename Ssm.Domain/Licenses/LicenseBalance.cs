namespace Ssm.Domain.Licenses;

public enum ComplianceStatus
{
    InCompliance,
    OutOfCompliance,
}

/// <summary>What an account owns of one license tag (from CSC) against what its products report using.</summary>
public sealed record LicenseBalance(string Tag, int Purchased, int InUse)
{
    public int Available => Purchased - InUse;

    public ComplianceStatus Status => InUse <= Purchased ? ComplianceStatus.InCompliance : ComplianceStatus.OutOfCompliance;

    public static string Text(ComplianceStatus status) => status == ComplianceStatus.InCompliance ? "In Compliance" : "Out of Compliance";
}
