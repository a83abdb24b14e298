using Ssm.Domain.Accounts;

namespace Ssm.Application.Api;

/// <summary>
/// Opens a bearer token and checks its client again: a revoked client, or one whose account was deleted, is
/// refused at once even though its token has not expired.
/// </summary>
[Sender(SenderRole.Public)]
public sealed record AuthenticateApiToken(string Token) : IQuery<ApiCaller>;

public sealed class AuthenticateApiTokenHandler(IQuerySession session, IApiTokenProtector protector) : IQueryHandler<AuthenticateApiToken, ApiCaller>
{
    public async ValueTask<ApiCaller> Handle(AuthenticateApiToken query, CancellationToken cancellationToken)
    {
        var claims = protector.Unprotect(query.Token)
            ?? throw new ApiAuthException(ApiAuthException.InvalidToken, "The access token is invalid or has expired; get a new one from POST /backend/oauth/token.");
        var client = await session.Query<ApiClient>().FirstOrDefaultAsync(c => c.ClientId == claims.ClientId, cancellationToken);
        if (client is null || client.AccountId != claims.AccountId)
            throw new ApiAuthException(ApiAuthException.InvalidToken, "The access token's client no longer exists.");
        if (client.RevokedAt is { } revoked)
            throw new ApiAuthException(ApiAuthException.InvalidToken, $"The access token's client was revoked on {revoked:u}.");
        var account = await session.LoadAsync<LocalAccount>(client.AccountId, cancellationToken)
            ?? throw new ApiAuthException(ApiAuthException.InvalidToken, "The access token's account no longer exists.");
        return new ApiCaller(client.ClientId, client.Name, account.Id, account.Name);
    }
}
