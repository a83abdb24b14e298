using Ssm.Domain.Accounts;

namespace Ssm.Application.Accounts;

public sealed record AccountDto(Guid Id, string Name, string Description, string ContactEmail, AccountStatus Status,
    DateTimeOffset CreatedAt, string CreatedBy)
{
    public static AccountDto From(LocalAccount a) => new(a.Id, a.Name, a.Description, a.ContactEmail, a.Status, a.CreatedAt, a.CreatedBy);
}
