using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Users;
using Ssm.Domain.Users;

namespace Ssm.Web.Endpoints;

/// <summary>Access Management for scripts: users, their roles and account grants. System administrators only (the messages say so).</summary>
public static class UserEndpoints
{
    public static IEndpointRouteBuilder MapUserEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/users");
        group.MapGet("/", List);
        group.MapPost("/", Create);
        group.MapPut("/{userName}/roles", SetRoles);
        group.MapPut("/{userName}/disabled", SetDisabled);
        group.MapPost("/{userName}/password-reset", ResetPassword);
        group.MapDelete("/{userName}", Delete);
        return app;
    }

    public sealed record RolesBody(UserRole Role, IReadOnlyList<AccountGrant>? Grants);

    public sealed record DisabledBody(bool Disabled);

    public sealed record PasswordBody(string? Password);

    private static async Task<Ok<IReadOnlyList<UserDto>>> List(ISender sender) => TypedResults.Ok(await sender.Send(new ListUsers()));

    private static async Task<Created<UserDto>> Create(ISender sender, CreateUser body)
    {
        var created = await sender.Send(body);
        return TypedResults.Created($"/api/users/{created.UserName}", created);
    }

    private static async Task<Ok<UserDto>> SetRoles(ISender sender, string userName, RolesBody body) =>
        TypedResults.Ok(await sender.Send(new SetUserRoles(userName, body.Role, body.Grants)));

    private static async Task<Ok<UserDto>> SetDisabled(ISender sender, string userName, DisabledBody body) =>
        TypedResults.Ok(await sender.Send(new SetUserDisabled(userName, body.Disabled)));

    private static async Task<NoContent> ResetPassword(ISender sender, string userName, PasswordBody body)
    {
        await sender.Send(new ResetUserPassword(userName, body.Password ?? ""));
        return TypedResults.NoContent();
    }

    private static async Task<NoContent> Delete(ISender sender, string userName)
    {
        await sender.Send(new DeleteUser(userName));
        return TypedResults.NoContent();
    }
}
