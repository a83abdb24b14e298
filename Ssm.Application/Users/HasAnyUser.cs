using Ssm.Domain.Users;

namespace Ssm.Application.Users;

[Sender(SenderRole.Internal)]
public sealed record HasAnyUser : IQuery<bool>;

public sealed class HasAnyUserHandler(IQuerySession session) : IQueryHandler<HasAnyUser, bool>
{
    public async ValueTask<bool> Handle(HasAnyUser query, CancellationToken cancellationToken) =>
        await session.Query<UserAccount>().AnyAsync(cancellationToken);
}
