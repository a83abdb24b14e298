using Ssm.Application.Licenses;

namespace Ssm.Application.Registration;

public sealed record EntitlementRequest(string Tag, int Count);

public sealed record EntitlementAnswer(string Tag, int Requested, bool Authorized, int Purchased, int InUse, int Available);

public sealed record ProductAuthorization(Guid InstanceId, IReadOnlyList<EntitlementAnswer> Entitlements);

/// <summary>
/// A product asks whether its account has the licenses it wants to use. The answer reads the account's
/// balance; nothing is reserved (usage reports are what count).
/// </summary>
[Sender(SenderRole.Public)]
public sealed record AuthorizeProduct(string Host, SignedRequest Request, IReadOnlyList<EntitlementRequest> Entitlements) : ICommand<ProductAuthorization>;

public sealed class AuthorizeProductValidator : AbstractValidator<AuthorizeProduct>
{
    public AuthorizeProductValidator()
    {
        RuleFor(x => x.Entitlements).NotNull().Must(e => e is { Count: >= 1 and <= 100 })
            .WithMessage("entitlements must list 1 to 100 tags.");
        RuleForEach(x => x.Entitlements).NotNull().WithMessage("An entitlement must be an object, not null.").ChildRules(e =>
        {
            e.RuleFor(x => x.Tag).NotEmpty().MaximumLength(ReportUsageValidator.TagMaxLength).Printable();
            e.RuleFor(x => x.Count).InclusiveBetween(0, ReportUsageValidator.MaxCount);
        });
    }
}

public sealed class AuthorizeProductHandler(HostCommonNames names, IDocumentSession session, IClock clock, LicenseUsage usage) : ICommandHandler<AuthorizeProduct, ProductAuthorization>
{
    public async ValueTask<ProductAuthorization> Handle(AuthorizeProduct command, CancellationToken cancellationToken)
    {
        await ProductRequests.EnsureAddressedAsync(session, names, command.Host, cancellationToken);
        var now = clock.UtcNow;
        var instance = await ProductRequests.AuthenticateAsync(session, command.Request, command.Host, now, cancellationToken);
        var licenses = (await ListLicensesHandler.ListAsync(session, clock, usage, instance.AccountId, AccountScope.All, cancellationToken))
            .ToDictionary(l => l.Tag);
        var mineByTag = (await session.LoadAsync<Domain.Products.ProductUsage>(instance.Id, cancellationToken))?.Usage ?? [];
        var answers = command.Entitlements.Select(e =>
        {
            var license = licenses.GetValueOrDefault(e.Tag);
            var mine = mineByTag.FirstOrDefault(u => u.Tag == e.Tag)?.Count ?? 0;
            var available = (license?.Available ?? 0) + mine; // what this product already uses is its own to keep
            return new EntitlementAnswer(e.Tag, e.Count, e.Count <= available, license?.Purchased ?? 0, license?.InUse ?? 0, license?.Available ?? 0);
        }).ToList();
        if (now - instance.LastContactAt >= Domain.Products.ProductInstance.ContactResolution)
        {
            ProductPatches.Contacted(session, instance.Id, now);
            await session.SaveChangesAsync(cancellationToken);
        }
        return new ProductAuthorization(instance.Id, answers);
    }
}
