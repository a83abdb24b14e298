using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Ssm.Web.Endpoints;

namespace Ssm.Tests.Node;

/// <summary>
/// A request whose database went away under it (a failover: the active's PostgreSQL killed) is answered 503 with
/// Retry-After, without the driver's words (hosts, ports, sockets), not 500.
/// </summary>
public sealed class ErrorResponsesTests
{
    private static async Task<(HttpContext Http, string Body)> AnswerAsync(Exception exception)
    {
        var services = new ServiceCollection().AddLogging().AddProblemDetails().BuildServiceProvider();
        var http = new DefaultHttpContext { RequestServices = services };
        http.Response.Body = new MemoryStream();
        var handled = await new ErrorResponses(services.GetRequiredService<IProblemDetailsService>()).TryHandleAsync(http, exception, CancellationToken.None);
        handled.ShouldBeTrue();
        http.Response.Body.Position = 0;
        return (http, await new StreamReader(http.Response.Body).ReadToEndAsync());
    }

    [Fact]
    public async Task A_lost_database_connection_is_503_with_retry_after_and_no_driver_detail()
    {
        // A real driver error: nothing listens on port 1 of loopback, as nothing does on a killed server's port.
        var lost = await Should.ThrowAsync<NpgsqlException>(async () =>
        {
            await using var connection = new NpgsqlConnection("Host=127.0.0.1;Port=1;Timeout=2;Pooling=false");
            await connection.OpenAsync();
        });
        // As Marten reports it: its own exception around the driver's.
        var (http, body) = await AnswerAsync(new InvalidOperationException("Marten Command Failure", lost));

        http.Response.StatusCode.ShouldBe(StatusCodes.Status503ServiceUnavailable);
        http.Response.Headers.RetryAfter.ToString().ShouldBe("1");
        body.ShouldContain("retry in a moment");
        body.ShouldNotContain("127.0.0.1");
        body.ShouldNotContain("Marten");
    }

    [Fact]
    public void A_database_error_that_is_the_request_s_own_is_not_taken_for_a_lost_database() =>
        ErrorResponses.LostDatabase(new PostgresException("duplicate key", "ERROR", "ERROR", "23505")).ShouldBeFalse();
}
