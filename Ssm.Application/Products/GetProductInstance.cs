using Ssm.Domain.Accounts;
using Ssm.Domain.Products;

namespace Ssm.Application.Products;

public sealed record ProductInstanceDetails(Guid Id, Guid AccountId, string Account, string Name, string Pid, string SerialNumber, string Udi,
    string ProductType, string HostName, bool ExportControlled, DateTimeOffset RegisteredAt, DateTimeOffset LastContactAt,
    string CertificateSerial, DateTimeOffset CertificateNotAfter, IReadOnlyList<LicenseUse> Usage);

/// <summary>What the details of one product instance show: its registration, its ID certificate and the licenses it uses.</summary>
[Sender(SenderRole.Viewer)]
public sealed record GetProductInstance(Guid Id) : IQuery<ProductInstanceDetails>, IScopedByHandler;

public sealed class GetProductInstanceHandler(IQuerySession session, ICurrentUser user) : IQueryHandler<GetProductInstance, ProductInstanceDetails>
{
    public async ValueTask<ProductInstanceDetails> Handle(GetProductInstance query, CancellationToken cancellationToken)
    {
        var p = await session.LoadAsync<ProductInstance>(query.Id, cancellationToken);
        // Another account's product answers as an unknown one: its existence is not told either.
        if (p is null || !user.Accounts.MayRead(p.AccountId))
            throw new NotFoundException($"No product instance with id {query.Id}.");
        var account = await session.LoadAsync<LocalAccount>(p.AccountId, cancellationToken);
        var usage = (await session.LoadAsync<ProductUsage>(p.Id, cancellationToken))?.Usage ?? [];
        return new ProductInstanceDetails(p.Id, p.AccountId, account?.Name ?? "(deleted)", p.Name, p.Pid, p.SerialNumber, p.Udi, p.ProductType,
            p.HostName, p.ExportControlled, p.RegisteredAt, p.LastContactAt, p.CertificateSerial, p.CertificateNotAfter, usage);
    }
}
