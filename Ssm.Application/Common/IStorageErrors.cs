namespace Ssm.Application.Common;

/// <summary>Tells what a storage failure was, so that handlers need not know the database driver.</summary>
public interface IStorageErrors
{
    /// <summary>True when a unique index refused the write (two requests raced past the friendly check).</summary>
    bool IsUniqueViolation(Exception error);

    /// <summary>
    /// True when the database refused what a statement wrote — a constraint, a value it cannot take, a trigger's
    /// error — rather than the connection failing: the fault of one request's data, not of every request's.
    /// </summary>
    bool IsRefusedData(Exception error);

    /// <summary>True when the database could not be reached or answered as unavailable (a node between roles).</summary>
    bool IsUnavailable(Exception error);
}
