using Npgsql;
using Ssm.Application.Common;

namespace Ssm.Infrastructure.Persistence;

public sealed class PostgresStorageErrors : IStorageErrors
{
    public bool IsUniqueViolation(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
            if (e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
                return true;
        return false;
    }

    public bool IsUnavailable(Exception error) => error is NpgsqlException or InvalidOperationException;
}
