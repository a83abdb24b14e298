using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Api;
using Ssm.Application.Products;
using Ssm.Application.Registration;

namespace Ssm.Web.Endpoints;

/// <summary>
/// Registration tokens and API toolkit clients of an account, for scripts and tests (the dashboard sends the
/// same commands). Signed-in operators only: the cookie fallback policy applies.
/// </summary>
public static class RegistrationEndpoints
{
    public static IEndpointRouteBuilder MapRegistrationEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts/{id:guid}/registration-tokens", List);
        app.MapPost("/api/accounts/{id:guid}/registration-tokens", Create);
        app.MapPost("/api/registration-tokens/{id:guid}/revoke", Revoke);
        app.MapGet("/api/product-instances", Products);
        app.MapGet("/api/product-instances/{id:guid}", Product);
        app.MapDelete("/api/product-instances/{id:guid}", RemoveProduct);
        app.MapGet("/api/accounts/{id:guid}/api-clients", ListClients);
        app.MapPost("/api/accounts/{id:guid}/api-clients", CreateClient);
        app.MapPost("/api/api-clients/{id:guid}/revoke", RevokeClient);
        return app;
    }

    private static async Task<Ok<ProductInstancePage>> Products(ISender sender, Guid? accountId, string? search, ProductSort? sortBy,
        bool? descending, int? pageNumber, int? pageSize) =>
        TypedResults.Ok(await sender.Send(new ListProductInstances(accountId, search, sortBy ?? ProductSort.Name, descending ?? false,
            pageNumber ?? 1, pageSize ?? 25)));

    private static async Task<Ok<ProductInstanceDetails>> Product(ISender sender, Guid id) => TypedResults.Ok(await sender.Send(new GetProductInstance(id)));

    private static async Task<NoContent> RemoveProduct(ISender sender, Guid id)
    {
        await sender.Send(new RemoveProductInstance(id));
        return TypedResults.NoContent();
    }

    public sealed record ClientBody(string? Name);

    private static async Task<Ok<IReadOnlyList<ApiClientDto>>> ListClients(ISender sender, Guid id) =>
        TypedResults.Ok(await sender.Send(new ListApiClients(id)));

    private static async Task<Ok<CreatedApiClient>> CreateClient(ISender sender, Guid id, ClientBody body) =>
        TypedResults.Ok(await sender.Send(new CreateApiClient(id, body.Name ?? "")));

    private static async Task<NoContent> RevokeClient(ISender sender, Guid id)
    {
        await sender.Send(new RevokeApiClient(id));
        return TypedResults.NoContent();
    }

    public sealed record TokenBody(string? Description, int? ExpiresInDays, int? MaxUses, bool AllowExportControlled);

    private static async Task<Ok<IReadOnlyList<RegistrationTokenDto>>> List(ISender sender, Guid id) =>
        TypedResults.Ok(await sender.Send(new ListRegistrationTokens(id)));

    private static async Task<Ok<CreatedRegistrationToken>> Create(ISender sender, Guid id, TokenBody body) =>
        TypedResults.Ok(await sender.Send(new CreateRegistrationToken(id, body.Description ?? "", body.ExpiresInDays ?? 30, body.MaxUses,
            body.AllowExportControlled)));

    private static async Task<NoContent> Revoke(ISender sender, Guid id)
    {
        await sender.Send(new RevokeRegistrationToken(id));
        return TypedResults.NoContent();
    }
}
