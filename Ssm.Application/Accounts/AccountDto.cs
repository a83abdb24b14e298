using Ssm.Domain.Accounts;

namespace Ssm.Application.Accounts;

public sealed record AccountDto(Guid Id, string Name, string Description, string ContactEmail, AccountStatus Status,
    DateTimeOffset CreatedAt, string CreatedBy, string? RejectionReason = null, DateTimeOffset? TokenExpiresAt = null,
    DateTimeOffset? LastSyncAt = null, bool TokenExpired = false)
{
    public static AccountDto From(LocalAccount a, DateTimeOffset? now = null) => new(a.Id, a.Name, a.Description, a.ContactEmail, a.Status,
        a.CreatedAt, a.CreatedBy, a.RejectionReason, a.TokenExpiresAt, a.LastSyncAt, now is { } at && a.TokenExpired(at));
}
