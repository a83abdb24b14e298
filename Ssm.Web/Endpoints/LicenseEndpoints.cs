using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Licenses;

namespace Ssm.Web.Endpoints;

/// <summary>The licenses of each account (entitlements from CSC, use from the products) for scripts and tests.</summary>
public static class LicenseEndpoints
{
    public static IEndpointRouteBuilder MapLicenseEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/licenses", Licenses);
        return app;
    }

    private static async Task<Ok<IReadOnlyList<LicenseDto>>> Licenses(ISender sender, Guid? accountId) =>
        TypedResults.Ok(await sender.Send(new ListLicenses(accountId)));
}
