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
        return app;
    }

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
