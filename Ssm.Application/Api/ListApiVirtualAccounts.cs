using FluentValidation;
using Marten;
using Mediator;
using Ssm.Application.Common;
using Ssm.Domain.Accounts;

namespace Ssm.Application.Api;

public sealed record ApiVirtualAccount(string Name, string Description, bool IsDefault);

public sealed record ApiVirtualAccounts(IReadOnlyList<ApiVirtualAccount> VirtualAccounts);

/// <summary>A local account here has one virtual account, DEFAULT, holding all its licenses and products.</summary>
[Sender(SenderRole.Viewer)]
public sealed record ListApiVirtualAccounts(Guid AccountId, int Limit = ApiLimit.All) : IQuery<ApiVirtualAccounts>;

public sealed class ListApiVirtualAccountsValidator : AbstractValidator<ListApiVirtualAccounts>
{
    public ListApiVirtualAccountsValidator() => this.AddLimitRule(x => x.Limit);
}

public sealed class ListApiVirtualAccountsHandler(IQuerySession session) : IQueryHandler<ListApiVirtualAccounts, ApiVirtualAccounts>
{
    public const string DefaultName = "DEFAULT";

    public async ValueTask<ApiVirtualAccounts> Handle(ListApiVirtualAccounts query, CancellationToken cancellationToken)
    {
        var account = await session.LoadAsync<LocalAccount>(query.AccountId, cancellationToken)
            ?? throw new NotFoundException($"No account with id {query.AccountId}.");
        var all = new[] { new ApiVirtualAccount(DefaultName, $"Default virtual account of {account.Name}", IsDefault: true) };
        return new ApiVirtualAccounts(ApiLimit.Apply(all, query.Limit));
    }
}
