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

    public bool IsRefusedData(Exception error)
    {
        // Class 22 data exception, 23 integrity constraint violation, P0 an error raised by a function or trigger.
        for (var e = error; e is not null; e = e.InnerException)
            if (e is PostgresException { SqlState: var state } && (state.StartsWith("22") || state.StartsWith("23") || state.StartsWith("P0")))
                return true;
        return false;
    }

    public bool IsUnavailable(Exception error) => error is NpgsqlException or InvalidOperationException;
}
