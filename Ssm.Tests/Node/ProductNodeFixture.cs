using System.Net;
using Npgsql;
using Ssm.Application.Accounts;
using Ssm.Application.Registration;
using Ssm.Tests.Support;
using Ssm.ProductSimulator;

namespace Ssm.Tests.Node;

/// <summary>
/// A real node with its HTTPS port and the CSC emulator, set up as an operator would for products: an active
/// account, the Host Common Name 127.0.0.1 signed by CSC, a registration token. Products are limited to
/// <see cref="RequestsPerSecond"/> per source address.
/// </summary>
public sealed class ProductNodeFixture : IAsyncLifetime
{
    public const int RequestsPerSecond = 100;
    public const string HostName = "127.0.0.1";
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"ssm-products-{Guid.NewGuid():N}");

    public CscEmulatorProcess Csc { get; private set; } = default!;
    public NodeProcess Node { get; private set; } = default!;
    public int HttpsPort { get; private set; }
    /// <summary>The second HTTPS port, for products only (443 under run.sh).</summary>
    public int ProductPort { get; private set; }
    public HttpClient Admin { get; private set; } = default!;
    public AccountDto Account { get; private set; } = default!;
    public CreatedRegistrationToken Token { get; private set; } = default!;
    public Uri Server => new($"https://{HostName}:{HttpsPort}/");
    public Uri ProductServer => new($"https://{HostName}:{ProductPort}/");

    public async ValueTask InitializeAsync()
    {
        Csc = await CscEmulatorProcess.StartAsync(Path.Combine(_root, "csc"), "auto", "1.00:00:00");
        HttpsPort = PostgresServer.FreePort();
        ProductPort = PostgresServer.FreePort();
        Node = await NodeProcess.StartAsync("ssm_products", "product-node",
            ["--csc", Csc.BaseAddress.ToString(), "--csc-root", Csc.RootPath, "--https-port", HttpsPort.ToString(), "--product-port", ProductPort.ToString()],
            new Dictionary<string, string>
            {
                ["SmartTransport__RequestsPerSecond"] = RequestsPerSecond.ToString(),
                ["Csc__ScheduleCheckSeconds"] = "1",
            });
        // The node presents the certificate CSC signs from the middle of this set-up on.
        Node.Certificates.TrustRoot(Csc.Root);
        Admin = await Node.SignedInAsync();
        Account = await OperatorApi.CreateAccountAsync(Admin, "Products");
        await OperatorApi.RequestActivationAsync(Admin, Account.Id);
        await OperatorApi.SetHostCommonNameAsync(Admin, HostName);
        await OperatorApi.SignForAsync(Admin, HostName, Csc.Root, HostName, HttpsPort);
        Token = await OperatorApi.CreateTokenAsync(Admin, Account.Id);
    }

    /// <summary>A product client that trusts the CSC root, connecting from its own loopback address (its own rate-limit bucket).</summary>
    public ProductClient Product(int source = 1) => new(Server, Csc.Root, source: IPAddress.Parse($"127.0.{100 + source / 250}.{1 + source % 250}"));

    /// <summary>A plain HTTPS client trusting the CSC root, connecting from the given loopback address (its own rate-limit bucket).</summary>
    public HttpClient Raw(IPAddress source, Uri? server = null)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) => CscEmulatorProcess.TrustedBy(Csc.Root, certificate, errors) },
            ConnectCallback = ProductClient.ConnectFrom(source),
        };
        return new HttpClient(handler) { BaseAddress = server ?? Server };
    }

    /// <summary>Every row of the node's documents, as one fingerprint: equal fingerprints, nothing written.</summary>
    public async Task<string> FingerprintAsync()
    {
        await using var connection = new NpgsqlConnection(Node.ConnectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("select table_name from information_schema.tables where table_schema = 'ssm' and table_name like 'mt_doc_%' order by 1", connection))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                tables.Add(reader.GetString(0));
        var parts = new List<string>();
        foreach (var table in tables)
        {
            await using var digest = new NpgsqlCommand($"select count(*) || ':' || coalesce(md5(string_agg(data::text, '' order by id::text)), '') from ssm.{table}", connection);
            parts.Add($"{table}={await digest.ExecuteScalarAsync()}");
        }
        return string.Join("\n", parts);
    }

    public async ValueTask DisposeAsync()
    {
        Admin?.Dispose();
        if (Node is not null)
            await Node.DisposeAsync();
        if (Csc is not null)
            await Csc.DisposeAsync();
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class ProductNodeCollection : ICollectionFixture<ProductNodeFixture>
{
    public const string Name = "product-node";
}
