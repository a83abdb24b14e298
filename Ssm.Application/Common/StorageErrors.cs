using Npgsql;

namespace Ssm.Application.Common;

public static class StorageErrors
{
    /// <summary>True when a unique index refused the write (two requests raced past the friendly check).</summary>
    public static bool IsUniqueViolation(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
            if (e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
                return true;
        return false;
    }
}
