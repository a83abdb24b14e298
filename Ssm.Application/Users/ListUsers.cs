using Ssm.Domain.Accounts;
using Ssm.Domain.Users;

namespace Ssm.Application.Users;

public sealed record UserGrantDto(Guid AccountId, string Account, AccountAccess Access);

public sealed record UserDto(string UserName, UserRole Role, IReadOnlyList<UserGrantDto> Grants, bool Disabled, bool MustChangePassword)
{
    public static async Task<UserDto> OfAsync(IQuerySession session, UserAccount user, CancellationToken cancellationToken) =>
        (await ListAsync(session, [user], cancellationToken))[0];

    public static async Task<IReadOnlyList<UserDto>> ListAsync(IQuerySession session, IReadOnlyList<UserAccount> users, CancellationToken cancellationToken)
    {
        var ids = users.SelectMany(u => u.Grants).Select(g => g.AccountId).Distinct().ToArray();
        var names = ids.Length == 0 ? []
            : (await session.Query<LocalAccount>().Where(a => ids.Contains(a.Id)).Select(a => new { a.Id, a.Name }).ToListAsync(cancellationToken))
                .ToDictionary(a => a.Id, a => a.Name);
        return users.Select(u => new UserDto(u.Id, u.Role,
                u.Grants.Select(g => new UserGrantDto(g.AccountId, names.GetValueOrDefault(g.AccountId, "(deleted)"), g.Access)).ToList(),
                u.Disabled, u.MustChangePassword))
            .ToList();
    }
}

/// <summary>Every user, for the Access Management page: system administrators only.</summary>
[Sender(SenderRole.Admin)]
public sealed record ListUsers : IQuery<IReadOnlyList<UserDto>>;

public sealed class ListUsersHandler(IQuerySession session) : IQueryHandler<ListUsers, IReadOnlyList<UserDto>>
{
    public async ValueTask<IReadOnlyList<UserDto>> Handle(ListUsers query, CancellationToken cancellationToken)
    {
        var users = await session.Query<UserAccount>().OrderBy(u => u.Id).ToListAsync(cancellationToken);
        return await UserDto.ListAsync(session, users, cancellationToken);
    }
}
