using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Polly.Timeout;
using Ssm.Application.Sync;

namespace Ssm.Infrastructure.Csc;

/// <summary>
/// The node's side of docs/csc-api.md. Transient failures are retried with backoff by the resilience
/// handler (every call is idempotent by the contract); what is left becomes one of three errors that say
/// what happened: unreachable, token expired, or refused with CSC's reason.
/// </summary>
public sealed class CscClient(HttpClient http, IOptions<CscOptions> options) : ICscClient
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public bool Configured => !string.IsNullOrWhiteSpace(options.Value.Url);
    public string Endpoint => options.Value.Url;

    public Task<ActivationReply> RequestActivationAsync(CscCredentials credentials, ActivationRequest request, CancellationToken cancellationToken) =>
        SendAsync<ActivationReply>(HttpMethod.Post, "csc/v1/activations", Basic(credentials), JsonContent.Create(new
        {
            localAccountId = request.LocalAccountId, name = request.Name, contactEmail = request.ContactEmail, onPremServer = request.OnPremServer,
        }, options: Json), cancellationToken);

    public Task<ActivationReply> GetActivationAsync(string requestId, CancellationToken cancellationToken) =>
        SendAsync<ActivationReply>(HttpMethod.Get, $"csc/v1/activations/{Uri.EscapeDataString(requestId)}", null, null, cancellationToken);

    public Task<TokenReply> RenewTokenAsync(CscCredentials credentials, string accountId, CancellationToken cancellationToken) =>
        SendAsync<TokenReply>(HttpMethod.Post, $"csc/v1/accounts/{Uri.EscapeDataString(accountId)}/token", Basic(credentials), null, cancellationToken);

    public async Task<IReadOnlyList<EntitlementInfo>> GetEntitlementsAsync(string accountId, string accessToken, CancellationToken cancellationToken) =>
        (await SendAsync<EntitlementsReply>(HttpMethod.Get, $"csc/v1/accounts/{Uri.EscapeDataString(accountId)}/entitlements",
            Bearer(accessToken), null, cancellationToken)).Entitlements;

    public Task<UploadReply> UploadAsync(string accountId, string accessToken, string batchId, IAsyncEnumerable<string> text, bool resend,
        CancellationToken cancellationToken) =>
        SendAsync<UploadReply>(HttpMethod.Post, $"csc/v1/accounts/{Uri.EscapeDataString(accountId)}/uploads/{Uri.EscapeDataString(batchId)}",
            Bearer(accessToken), new NdjsonContent(text), cancellationToken, expectContinue: resend);

    public async Task<SignedCertificate> SignCertificateAsync(string accountId, string accessToken, string csrPem, CancellationToken cancellationToken)
    {
        var reply = await SendAsync<CertificateReply>(HttpMethod.Post, $"csc/v1/accounts/{Uri.EscapeDataString(accountId)}/certificates",
            Bearer(accessToken), JsonContent.Create(new { csr = csrPem }, options: Json), cancellationToken);
        return new SignedCertificate(reply.Certificate, reply.Chain);
    }

    private sealed record EntitlementsReply(IReadOnlyList<EntitlementInfo> Entitlements);

    private sealed record CertificateReply(string Certificate, IReadOnlyList<string> Chain);

    private sealed record Problem(string? Title, string? Code);

    private static AuthenticationHeaderValue Basic(CscCredentials credentials) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credentials.User}:{credentials.Password}")));

    private static AuthenticationHeaderValue Bearer(string token) => new("Bearer", token);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, AuthenticationHeaderValue? auth, HttpContent? content,
        CancellationToken cancellationToken, bool expectContinue = false)
    {
        if (!Configured)
            throw new CscUnreachableException("No CSC address is configured (Csc:Url).");
        using var request = new HttpRequestMessage(method, new Uri(new Uri(options.Value.Url.TrimEnd('/') + "/"), path)) { Content = content };
        request.Headers.Authorization = auth;
        // A batch CSC has seen is answered before the body is read: for a resend, ask first and send then.
        if (expectContinue)
            request.Headers.ExpectContinue = true;
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new CscUnreachableException($"Cisco Software Central at {options.Value.Url} is unreachable: {Describe(ex)}", ex);
        }
        catch (Exception ex) when (ex is TimeoutRejectedException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new CscUnreachableException($"Cisco Software Central at {options.Value.Url} did not answer in time.", ex);
        }
        using (response)
        {
            if (response.IsSuccessStatusCode)
                return await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken)
                       ?? throw new CscUnreachableException($"Cisco Software Central answered {path} with an empty body.");
            var problem = await ReadProblemAsync(response, cancellationToken);
            var reason = problem?.Title ?? $"{(int)response.StatusCode} {response.ReasonPhrase}";
            if (problem?.Code == "token_expired")
                throw new CscTokenExpiredException($"CSC: {reason}");
            if ((int)response.StatusCode >= 500)
                throw new CscUnreachableException($"Cisco Software Central failed ({(int)response.StatusCode}): {reason}");
            throw new CscRefusedException(problem?.Code ?? response.StatusCode.ToString(), reason);
        }
    }

    private static async Task<Problem?> ReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<Problem>(Json, cancellationToken);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string Describe(HttpRequestException ex) => ex.HttpRequestError == HttpRequestError.SecureConnectionError
        ? $"its TLS certificate is not trusted ({ex.InnerException?.Message ?? ex.Message}); check Csc:RootCertificate"
        : ex.InnerException?.Message ?? ex.Message;

    /// <summary>Checks CSC's certificate against the configured root only (and the host name), when one is configured.</summary>
    public static SocketsHttpHandler CreateHandler(CscOptions options)
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = TimeSpan.FromSeconds(5) };
        if (string.IsNullOrWhiteSpace(options.RootCertificate))
            return handler;
        var root = X509Certificate2.CreateFromPem(File.ReadAllText(options.RootCertificate));
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
                return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(root);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(certificate));
        };
        return handler;
    }

    /// <summary>Streams the lines as NDJSON without holding the batch in memory.</summary>
    private sealed class NdjsonContent : HttpContent
    {
        private readonly IAsyncEnumerable<string> _lines;

        public NdjsonContent(IAsyncEnumerable<string> lines)
        {
            _lines = lines;
            Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false), 64 * 1024, leaveOpen: true);
            await foreach (var line in _lines)
            {
                await writer.WriteAsync(line);
                await writer.WriteAsync('\n');
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
