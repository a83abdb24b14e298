namespace Ssm.Domain.Accounts;

public enum AccountStatus
{
    New,
    Requested,
    Active,
    Rejected,
}
