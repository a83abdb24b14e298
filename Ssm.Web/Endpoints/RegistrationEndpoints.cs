using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Registration;

namespace Ssm.Web.Endpoints;

/// <summary>
/// Registration tokens of an account, for scripts and tests (the dashboard sends the
/// same commands). Signed-in operators only: the cookie fallback policy applies.
/// </summary>
public static class RegistrationEndpoints
{
    public static IEndpointRouteBuilder MapRegistrationEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts/{id:guid}/registration-tokens", List);
        app.MapPost("/api/accounts/{id:guid}/registration-tokens", Create);
        app.MapPost("/api/registration-tokens/{id:guid}/revoke", Revoke);
        return app;
    }

    public sealed record TokenBody(string? Description, int? ExpiresInDays, int? MaxUses, bool AllowExportControlled, Guid? VirtualAccountId = null);

    private static async Task<Ok<IReadOnlyList<RegistrationTokenDto>>> List(ISender sender, Guid id) =>
        TypedResults.Ok(await sender.Send(new ListRegistrationTokens(id)));

    private static async Task<Ok<CreatedRegistrationToken>> Create(ISender sender, Guid id, TokenBody body) =>
        TypedResults.Ok(await sender.Send(new CreateRegistrationToken(id, body.Description ?? "", body.ExpiresInDays ?? 30, body.MaxUses,
            body.AllowExportControlled, body.VirtualAccountId)));

    private static async Task<NoContent> Revoke(ISender sender, Guid id)
    {
        await sender.Send(new RevokeRegistrationToken(id));
        return TypedResults.NoContent();
    }
}
