using System.Security.Cryptography;
using Ssm.Domain.Accounts;
using Ssm.Domain.Products;
using Ssm.Domain.Registration;

namespace Ssm.Application.Registration;

/// <summary>What a product gets for registering: its instance id and an ID certificate, to sign every later request with.</summary>
public sealed record ProductRegistered(Guid InstanceId, string Account, string IdCertificate, string CaCertificate, DateTimeOffset NotAfter,
    DateTimeOffset RenewAfter);

/// <summary>
/// A product registers with a registration token. It brings a CSR (or a bare public key) of an ECDSA P-256 key;
/// the token is never needed again. <see cref="Force"/> replaces an earlier registration of the same product in the token's account,
/// as `license smart register idtoken ... force` does.
/// </summary>
[Sender(SenderRole.Public)]
public sealed record RegisterProduct(string Host, string Token, string Pid, string SerialNumber, string ProductName, string ProductType,
    string HostName, string? Csr, string? PublicKey, bool ExportControlled, bool Force) : ICommand<ProductRegistered>;

public sealed class RegisterProductValidator : AbstractValidator<RegisterProduct>
{
    public const int KeyTextMaxLength = 8 * 1024;

    public RegisterProductValidator()
    {
        RuleFor(x => x.Token).NotEmpty().WithMessage("token is required.").MaximumLength(200);
        RuleFor(x => x.Pid).NotEmpty().WithMessage("udi.pid is required.").MaximumLength(64)
            .Matches("^[A-Za-z0-9][A-Za-z0-9._/+-]*$").WithMessage("udi.pid may hold letters, digits and . _ / + - only.");
        RuleFor(x => x.SerialNumber).NotEmpty().WithMessage("udi.sn is required.").MaximumLength(64)
            .Matches("^[A-Za-z0-9][A-Za-z0-9-]*$").WithMessage("udi.sn may hold letters, digits and - only.");
        RuleFor(x => x.ProductName).NotNull().MaximumLength(ProductInstance.NameMaxLength).Printable();
        RuleFor(x => x.ProductType).NotNull().MaximumLength(64).Printable();
        RuleFor(x => x.HostName).NotNull().MaximumLength(253).Printable();
        RuleFor(x => x).Must(x => x.Csr is null != x.PublicKey is null).WithName("csr")
            .WithMessage("Send exactly one of csr (PKCS#10 PEM) and publicKey (SubjectPublicKeyInfo PEM).");
        RuleFor(x => x.Csr).MaximumLength(KeyTextMaxLength);
        RuleFor(x => x.PublicKey).MaximumLength(KeyTextMaxLength);
    }
}

public sealed class RegisterProductHandler(HostCommonNames names, RegistrationTokenCache tokens, RegistrationCommits commits, IDocumentStore documents, IStorageErrors storage,
    IProductCertificateAuthority authority, IClock clock, ChangeNotifier notifier)
    : ICommandHandler<RegisterProduct, ProductRegistered>
{
    private const int Attempts = 20;

    public async ValueTask<ProductRegistered> Handle(RegisterProduct command, CancellationToken cancellationToken)
    {
        // Only a limited token's counter can be raced for; the loser reads the token again and tries once more.
        for (var attempt = 1; ; attempt++)
        {
            await using var session = documents.LightweightSession();
            try
            {
                var registered = await RegisterAsync(session, command, cancellationToken);
                notifier.Publish(ChangeTopic.Products);
                return registered;
            }
            catch (JasperFx.ConcurrencyException) when (attempt < Attempts)
            {
                await Task.Delay(Random.Shared.Next(1, 5 * attempt), cancellationToken);
            }
            catch (JasperFx.ConcurrencyException)
            {
                throw new ConflictException("The registration token is being used by many products at this moment: try again.");
            }
        }
    }

    private async Task<ProductRegistered> RegisterAsync(IDocumentSession session, RegisterProduct command, CancellationToken cancellationToken)
    {
        await ProductRequests.EnsureAddressedAsync(session, names, command.Host, cancellationToken);
        var now = clock.UtcNow;
        var (token, accountId, accountName) = await UsableTokenAsync(session, RegistrationToken.HashOf(command.Token), cancellationToken);
        token.EnsureUsable(command.ExportControlled, now);
        var publicKey = PublicKeyOf(command);

        var (pid, serialNumber) = (ProductInstance.Canonical(command.Pid), ProductInstance.Canonical(command.SerialNumber));
        var udi = ProductInstance.UdiOf(pid, serialNumber);
        // Without force the unique index on PID and serial number is the check (one query less per registration). Force
        // replaces only an instance of the token's own account: another account's product, and its usage, are not this token's to drop.
        if (command.Force && await session.Query<ProductInstance>().Where(p => p.Pid == pid && p.SerialNumber == serialNumber)
                .Select(p => new { p.Id, p.AccountId }).FirstOrDefaultAsync(cancellationToken) is { } earlier)
        {
            if (earlier.AccountId != accountId)
                throw new RegistrationException(RegistrationErrorCode.DuplicateProduct,
                    $"A product with UDI {udi} is registered in another account: force replaces only a registration of this token's account.");
            session.Delete<ProductInstance>(earlier.Id);
            session.Delete<ProductUsage>(earlier.Id);
        }
        if (token.MaxUses is not null)
        {
            // The one counter a registration touches, and only for a limited token: optimistic concurrency guards it.
            token.Uses++;
            session.Store(token);
        }

        var id = Guid.CreateVersion7(now);
        var certificate = await authority.IssueAsync(publicKey, udi, id, now, cancellationToken);
        var instance = new ProductInstance
        {
            Id = id,
            AccountId = accountId,
            // Known from the token this registration read anyway: no query more on the registration path.
            VirtualAccountId = token.VirtualAccountId,
            TokenId = token.Id,
            Pid = pid,
            SerialNumber = serialNumber,
            Name = command.ProductName.Trim(),
            ProductType = command.ProductType.Trim(),
            HostName = command.HostName.Trim(),
            ExportControlled = command.ExportControlled,
            RegisteredAt = now,
            LastContactAt = now,
            CertificateSerial = certificate.Serial,
            CertificateNotAfter = certificate.NotAfter,
            PublicKey = publicKey,
        };
        try
        {
            // The common case (an unlimited token, no earlier registration to replace) writes nothing else: it is
            // committed together with the registrations arriving at the same moment.
            if (token.MaxUses is null && !command.Force)
                await commits.InsertAsync(instance, cancellationToken);
            else
            {
                session.Insert(instance);
                await session.SaveChangesAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (storage.IsUniqueViolation(ex))
        {
            throw Duplicate(udi);
        }
        return new ProductRegistered(id, accountName, certificate.Pem, await authority.CertificatePemAsync(cancellationToken), certificate.NotAfter,
            now + ProductAuthority.RenewAfter);
    }

    /// <summary>The token and its account, from the cache for a token without a use limit.</summary>
    private async Task<RegistrationTokenCache.Usable> UsableTokenAsync(IQuerySession session, string hash, CancellationToken cancellationToken)
    {
        if (tokens.Find(hash) is { } cached)
            return cached;
        var generation = tokens.Generation;
        var readAt = System.Diagnostics.Stopwatch.GetTimestamp();
        // SQL rather than LINQ on the hot path: a registration storm should not parse the same expression each time.
        var token = (await session.QueryAsync<RegistrationToken>("where data ->> 'SecretHash' = ?", cancellationToken, hash)).FirstOrDefault()
            ?? throw new RegistrationException(RegistrationErrorCode.TokenUnknown, "The registration token is not known to this server.");
        var account = await session.LoadAsync<LocalAccount>(token.AccountId, cancellationToken)
            ?? throw new RegistrationException(RegistrationErrorCode.AccountNotActive, "The account of this registration token was deleted.");
        var usable = new RegistrationTokenCache.Usable(token, account.Id, account.Name);
        tokens.Keep(hash, usable, generation, readAt);
        return usable;
    }

    private static RegistrationException Duplicate(string udi) => new(RegistrationErrorCode.DuplicateProduct,
        $"A product with UDI {udi} is already registered: deregister it first, or register with force to replace it.");

    /// <summary>The product's key as SubjectPublicKeyInfo: from a CSR whose signature proves the product holds the key, or as given.</summary>
    private byte[] PublicKeyOf(RegisterProduct command) => command.Csr is { } csr ? authority.KeyOfRequest(csr) : KeyOfPem(command.PublicKey!);

    private static byte[] KeyOfPem(string pem)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportFromPem(pem);
            return EnsureP256(key.ExportSubjectPublicKeyInfo());
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new RegistrationException(RegistrationErrorCode.MalformedRequest, "publicKey is not an ECDSA public key in PEM.");
        }
    }

    /// <summary>The key as .NET exports it must be byte for byte a P-256 SubjectPublicKeyInfo (<see cref="P256Key"/>), as a CSR's is.</summary>
    private static byte[] EnsureP256(byte[] spki) => P256Key.IsInfo(spki)
        ? spki
        : throw new RegistrationException(RegistrationErrorCode.MalformedRequest, "The product's key must be an ECDSA key on curve P-256.");
}
