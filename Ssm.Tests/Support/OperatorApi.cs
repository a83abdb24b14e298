using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Ssm.Application.Accounts;
using Ssm.Application.Certificates;
using Ssm.Application.Common;
using Ssm.Application.Registration;
using Ssm.Application.Sync;
using Ssm.Domain.Sync;

namespace Ssm.Tests.Support;

/// <summary>What an operator does over the node's HTTP API to get products registering: account, CSC, Host Common Name, token.</summary>
public static class OperatorApi
{
    public static async Task<AccountDto> CreateAccountAsync(HttpClient client, string name)
    {
        var response = await client.PostAsJsonAsync("/api/accounts", new { name, description = "", contactEmail = "ops@example.com" });
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<AccountDto>(TestCluster.Json))!;
    }

    /// <summary>Requests activation with the emulator's operator (the emulator must approve automatically).</summary>
    public static async Task RequestActivationAsync(HttpClient client, Guid accountId)
    {
        var response = await client.PostAsJsonAsync($"/api/accounts/{accountId}/activation",
            new { user = "csc-operator", password = CscEmulatorProcess.Password });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Starts a sync and waits for its run to end; returns the run.</summary>
    public static async Task<SyncRunDto> SyncAsync(HttpClient client, Guid? accountId = null, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            try
            {
                var response = await client.PostAsJsonAsync("/api/sync", new { accountId });
                // A run that is still going (the schedule's, or one the other node left) is waited for, then ours starts.
                if (response.StatusCode == HttpStatusCode.Conflict && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                    continue;
                }
                response.StatusCode.ShouldBe(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
                var started = (await response.Content.ReadFromJsonAsync<SyncRunDto>(TestCluster.Json))!;
                while (DateTime.UtcNow < deadline)
                {
                    var runs = await client.GetFromJsonAsync<Page<SyncRunDto>>("/api/sync/runs?pageSize=50", TestCluster.Json);
                    if (runs!.Items.FirstOrDefault(r => r.Id == started.Id && r.Result != SyncResult.Running) is { } run)
                        return run;
                    await Task.Delay(100);
                }
                throw new TimeoutException($"sync run {started.Id} did not end within {seconds} s");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200); // the VIP moves during a failover
            }
        }
    }

    public static async Task SetHostCommonNameAsync(HttpClient client, string name)
    {
        var response = await client.PutAsJsonAsync("/api/certificates/host-common-name", new { name });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Syncs until CSC has signed the certificate for the name, and waits until the HTTPS port presents it.</summary>
    public static async Task SignForAsync(HttpClient client, string name, X509Certificate2 cscRoot, string httpsHost, int httpsPort)
    {
        var run = await SyncAsync(client);
        run.Result.ShouldBe(SyncResult.Succeeded, run.Error);
        var status = await client.GetFromJsonAsync<CertificateStatus>("/api/certificates", TestCluster.Json);
        status!.SignedFor.ShouldBe(name);
        status.Stale.ShouldBeFalse();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await PresentsTrustedAsync(cscRoot, httpsHost, httpsPort, name))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"https://{httpsHost}:{httpsPort} does not present a certificate for {name} signed by the CSC root");
            await Task.Delay(200);
        }
    }

    private static async Task<bool> PresentsTrustedAsync(X509Certificate2 root, string host, int port, string name)
    {
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(host, port);
            var trusted = false;
            await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, errors) =>
                trusted = CscEmulatorProcess.TrustedBy(root, certificate, errors));
            await tls.AuthenticateAsClientAsync(name);
            return trusted;
        }
        catch (Exception ex) when (ex is IOException or SocketException or System.Security.Authentication.AuthenticationException)
        {
            return false;
        }
    }

    public static async Task<CreatedRegistrationToken> CreateTokenAsync(HttpClient client, Guid accountId, int? maxUses = null)
    {
        var response = await client.PostAsJsonAsync($"/api/accounts/{accountId}/registration-tokens",
            new { description = "rollout", expiresInDays = 30, maxUses });
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<CreatedRegistrationToken>(TestCluster.Json))!;
    }
}
