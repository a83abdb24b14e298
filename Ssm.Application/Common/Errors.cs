namespace Ssm.Application.Common;

/// <summary>The thing asked for does not exist.</summary>
public sealed class NotFoundException(string message) : Exception(message);

/// <summary>The request clashes with what is stored (a duplicate name, a stale state).</summary>
public sealed class ConflictException(string message) : Exception(message);

/// <summary>The caller is known but may not do this.</summary>
public sealed class ForbiddenException(string message) : Exception(message);

public static class ErrorText
{
    /// <summary>The operator-facing text of an error: validation failures as their messages only.</summary>
    public static string Describe(Exception error) => error is FluentValidation.ValidationException validation
        ? string.Join(" ", validation.Errors.Select(e => e.ErrorMessage).Distinct())
        : error.Message;

    /// <summary>
    /// A refusal the operator should read (bad input, no right, nothing there, a clash, a broken rule): nothing was
    /// changed, so a page shows the text and stays as it was. Anything else is a fault and is not caught by pages.
    /// </summary>
    public static bool IsRefusal(Exception error) =>
        error is FluentValidation.ValidationException or ForbiddenException or NotFoundException or ConflictException or Domain.DomainException;
}
