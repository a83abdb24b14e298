using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Products;

namespace Ssm.Web.Endpoints;

/// <summary>The Product Instances tab for scripts and tests (products themselves speak Smart Transport). Signed-in operators only.</summary>
public static class ProductEndpoints
{
    public static IEndpointRouteBuilder MapProductEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/product-instances", Products);
        app.MapGet("/api/product-instances/{id:guid}", Product);
        app.MapDelete("/api/product-instances/{id:guid}", RemoveProduct);
        return app;
    }

    private static async Task<Ok<ProductInstancePage>> Products(ISender sender, Guid? accountId, string? search, ProductSort? sortBy,
        bool? descending, int? pageNumber, int? pageSize, Guid? virtualAccountId, string? after, string? before, bool? last) =>
        TypedResults.Ok(await sender.Send(new ListProductInstances(accountId, search, sortBy ?? ProductSort.Name, descending ?? false,
            pageNumber ?? 1, pageSize ?? 25, virtualAccountId, after, before, last ?? false)));

    private static async Task<Ok<ProductInstanceDetails>> Product(ISender sender, Guid id) => TypedResults.Ok(await sender.Send(new GetProductInstance(id)));

    private static async Task<NoContent> RemoveProduct(ISender sender, Guid id)
    {
        await sender.Send(new RemoveProductInstance(id));
        return TypedResults.NoContent();
    }
}
