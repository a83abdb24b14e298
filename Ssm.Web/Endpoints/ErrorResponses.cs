using FluentValidation;
using Microsoft.AspNetCore.Diagnostics;
using Ssm.Application.Common;
using Ssm.Domain;

namespace Ssm.Web.Endpoints;

/// <summary>Turns the application's errors into problem details: the caller's mistake is never a 500.</summary>
public sealed class ErrorResponses(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        var lostDatabase = LostDatabase(exception);
        var (status, title) = exception switch
        {
            ValidationException => (StatusCodes.Status400BadRequest, "The request is invalid"),
            DomainException => (StatusCodes.Status400BadRequest, "The request is invalid"),
            BadHttpRequestException bad => (bad.StatusCode, "The request could not be read"),
            NotFoundException => (StatusCodes.Status404NotFound, "Not found"),
            ConflictException => (StatusCodes.Status409Conflict, "Conflict"),
            Application.Ha.WrongStateException => (StatusCodes.Status409Conflict, "Not in this state"),
            ForbiddenException => (StatusCodes.Status403Forbidden, "Forbidden"),
            Application.Sync.CscUnreachableException => (StatusCodes.Status503ServiceUnavailable, "Cisco Software Central is unreachable"),
            Application.Sync.CscTokenExpiredException => (StatusCodes.Status409Conflict, "The CSC access token has expired"),
            Application.Sync.CscRefusedException => (StatusCodes.Status422UnprocessableEntity, "Refused by Cisco Software Central"),
            _ when lostDatabase => (StatusCodes.Status503ServiceUnavailable, "The database is unavailable"),
            _ => (0, ""),
        };
        if (status == 0)
            return false;

        http.Response.StatusCode = status;
        var details = new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = status, Title = title, Detail = exception.Message };
        if (lostDatabase && status == StatusCodes.Status503ServiceUnavailable)
        {
            // The driver's words name hosts and sockets: the caller gets what it can act on.
            details.Detail = DatabaseLostText;
            http.Response.Headers.RetryAfter = "1";
        }
        if (exception is ValidationException validation)
        {
            details.Detail = ErrorText.Describe(validation);
            details.Extensions["errors"] = validation.Errors
                .GroupBy(e => e.PropertyName)
                .ToDictionary(g => g.Key, g => g.Select(e => e.ErrorMessage).Distinct().ToArray());
        }
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = details, Exception = exception });
    }

    public const string DatabaseLostText =
        "The node lost its database (a failover may be under way); retry in a moment. A change sent just now may or may not have been saved.";

    /// <summary>
    /// The database went away under the request (killed, failing over, a connection cut): not the caller's fault and
    /// not a bug, so 503 with Retry-After rather than 500. Npgsql marks exactly these errors transient.
    /// </summary>
    public static bool LostDatabase(Exception exception)
    {
        for (var error = exception; error is not null; error = error.InnerException)
        {
            if (error is Npgsql.NpgsqlException { IsTransient: true })
                return true;
        }
        return false;
    }
}
