using System.Text.Json.Serialization;
using Ssm.Domain.Accounts;

namespace Ssm.Application.Api;

/// <summary>The OAuth 2.0 token response (RFC 6749 §5.1).</summary>
public sealed record IssuedApiToken(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_in")] int ExpiresIn);

/// <summary>
/// The client credentials grant: a monitoring tool trades its client id and secret for an access token.
/// Not audited and nothing stored: tools ask every hour, and a refusal must not let anyone fill the database.
/// </summary>
[Sender(SenderRole.Public)]
public sealed record IssueApiToken(string? GrantType, string? ClientId, string? ClientSecret) : ICommand<IssuedApiToken>
{
    public const string ClientCredentials = "client_credentials";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);
}

public sealed class IssueApiTokenHandler(IQuerySession session, IApiTokenProtector protector, IClock clock)
    : ICommandHandler<IssueApiToken, IssuedApiToken>
{
    public async ValueTask<IssuedApiToken> Handle(IssueApiToken command, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(command.GrantType))
            throw new ApiAuthException(ApiAuthException.InvalidRequest, $"grant_type is required and must be {IssueApiToken.ClientCredentials}.");
        if (command.GrantType != IssueApiToken.ClientCredentials)
            throw new ApiAuthException(ApiAuthException.UnsupportedGrantType, $"Only grant_type {IssueApiToken.ClientCredentials} is supported.");
        if (string.IsNullOrEmpty(command.ClientId) || string.IsNullOrEmpty(command.ClientSecret))
            throw new ApiAuthException(ApiAuthException.InvalidRequest, "client_id and client_secret are required.");

        // Ids are ours and printable; anything else (a NUL PostgreSQL would refuse) cannot name a client.
        var client = command.ClientId.Length > 200 || command.ClientId.Any(char.IsControl) ? null
            : await session.Query<ApiClient>().FirstOrDefaultAsync(c => c.ClientId == command.ClientId, cancellationToken);
        // An unknown id and a wrong secret read the same, so the answer does not tell which client ids exist.
        if (client is null || !client.HasSecret(command.ClientSecret))
            throw new ApiAuthException(ApiAuthException.InvalidClient, "Unknown client or wrong secret.");
        if (client.RevokedAt is { } revoked)
            throw new ApiAuthException(ApiAuthException.InvalidClient, $"The client was revoked on {revoked:u}.");
        if (!await session.Query<LocalAccount>().AnyAsync(a => a.Id == client.AccountId, cancellationToken))
            throw new ApiAuthException(ApiAuthException.InvalidClient, "The client's account no longer exists.");

        var token = protector.Protect(new ApiTokenClaims(client.ClientId, client.AccountId), clock.UtcNow + IssueApiToken.Lifetime);
        return new IssuedApiToken(token, "Bearer", (int)IssueApiToken.Lifetime.TotalSeconds);
    }
}
