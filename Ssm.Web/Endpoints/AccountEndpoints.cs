using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Accounts;
using Ssm.Application.Common;

namespace Ssm.Web.Endpoints;

public static class AccountEndpoints
{
    public static IEndpointRouteBuilder MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/accounts");
        group.MapGet("/", List);
        group.MapPost("/", Create);
        group.MapPut("/{id:guid}/description", UpdateDescription);
        group.MapDelete("/{id:guid}", Delete);
        group.MapGet("/{id:guid}/virtual-accounts", ListVirtualAccounts);
        group.MapPost("/{id:guid}/virtual-accounts", CreateVirtualAccount);
        group.MapGet("/{id:guid}/virtual-accounts/licenses", VirtualAccountLicenses);
        app.MapPut("/api/virtual-accounts/{id:guid}", UpdateVirtualAccount);
        app.MapDelete("/api/virtual-accounts/{id:guid}", DeleteVirtualAccount);
        app.MapPost("/api/virtual-accounts/{id:guid}/products", MoveProducts);
        return app;
    }

    public sealed record VirtualAccountBody(string? Name, string? Description);

    public sealed record MoveBody(IReadOnlyList<Guid>? InstanceIds);

    private static async Task<Ok<IReadOnlyList<VirtualAccountDto>>> ListVirtualAccounts(ISender sender, Guid id) =>
        TypedResults.Ok(await sender.Send(new ListVirtualAccounts(id)));

    private static async Task<Created<VirtualAccountDto>> CreateVirtualAccount(ISender sender, Guid id, VirtualAccountBody body)
    {
        var created = await sender.Send(new CreateVirtualAccount(id, body.Name ?? "", body.Description ?? ""));
        return TypedResults.Created($"/api/virtual-accounts/{created.Id}", created);
    }

    private static async Task<Ok<IReadOnlyList<Application.Licenses.VirtualAccountLicenseDto>>> VirtualAccountLicenses(ISender sender, Guid id) =>
        TypedResults.Ok(await sender.Send(new Application.Licenses.ListVirtualAccountLicenses(id)));

    private static async Task<Ok<VirtualAccountDto>> UpdateVirtualAccount(ISender sender, Guid id, VirtualAccountBody body) =>
        TypedResults.Ok(await sender.Send(new UpdateVirtualAccount(id, body.Name ?? "", body.Description ?? "")));

    private static async Task<NoContent> DeleteVirtualAccount(ISender sender, Guid id)
    {
        await sender.Send(new DeleteVirtualAccount(id));
        return TypedResults.NoContent();
    }

    /// <summary>Moves the products named in the body into this virtual account.</summary>
    private static async Task<Ok<int>> MoveProducts(ISender sender, Guid id, MoveBody body) =>
        TypedResults.Ok(await sender.Send(new Application.Products.MoveProductInstances(body.InstanceIds ?? [], id)));

    public sealed record DescriptionBody(string Description);

    private static async Task<Ok<Page<AccountDto>>> List(ISender sender, string? search, int? page, int? pageSize) =>
        TypedResults.Ok(await sender.Send(new ListAccounts(search, page ?? 1, pageSize ?? 20)));

    private static async Task<Created<AccountDto>> Create(ISender sender, CreateAccount command)
    {
        var account = await sender.Send(command);
        return TypedResults.Created($"/api/accounts/{account.Id}", account);
    }

    private static async Task<Ok<AccountDto>> UpdateDescription(ISender sender, Guid id, DescriptionBody body) =>
        TypedResults.Ok(await sender.Send(new UpdateAccountDescription(id, body.Description)));

    private static async Task<NoContent> Delete(ISender sender, Guid id, string confirm)
    {
        await sender.Send(new DeleteAccount(id, confirm));
        return TypedResults.NoContent();
    }
}
