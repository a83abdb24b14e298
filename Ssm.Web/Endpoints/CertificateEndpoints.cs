using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Ssm.Application.Certificates;

namespace Ssm.Web.Endpoints;

/// <summary>Security > Certificates: the Host Common Name and the state of the certificate CSC signs for it.</summary>
public static class CertificateEndpoints
{
    public static IEndpointRouteBuilder MapCertificateEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/certificates", Status);
        app.MapPut("/api/certificates/host-common-name", SetName);
        // After ha_teardown: the Host Common Name becomes this node's address and a synchronization has CSC sign it.
        app.MapPost("/api/certificates/host-common-name/node-address", AdoptNodeAddress);
        return app;
    }

    public sealed record NameBody(string Name);

    private static async Task<Results<Ok<CertificateStatus>, NoContent>> Status(ISender sender) =>
        await sender.Send(new GetCertificateStatus()) is { } status ? TypedResults.Ok(status) : TypedResults.NoContent();

    private static async Task<Ok<CertificateStatus>> SetName(ISender sender, NameBody body) =>
        TypedResults.Ok(await sender.Send(new SetHostCommonName(body.Name ?? "")));

    private static async Task<Microsoft.AspNetCore.Http.HttpResults.Ok<Application.Ha.TeardownFollowUpResult>> AdoptNodeAddress(Mediator.ISender sender) =>
        Microsoft.AspNetCore.Http.TypedResults.Ok(await sender.Send(new Application.Ha.AdoptNodeAddressAfterTeardown()));
}
