namespace Ssm.Domain.Accounts;

/// <summary>A local account, later synchronized with Cisco Software Central.</summary>
public sealed class LocalAccount
{
    public Guid Id { get; set; }
    public string Name { get; set; } = "";
    public string NameKey { get; set; } = "";
    public string Description { get; set; } = "";
    public string ContactEmail { get; set; } = "";
    public AccountStatus Status { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTimeOffset UpdatedAt { get; set; }

    // Cisco Software Central: the activation request, then the account there and its access token.
    public string? ActivationRequestId { get; set; }
    public string? RejectionReason { get; set; }
    public string? CscAccountId { get; set; }
    public string? AccessToken { get; set; }
    public DateTimeOffset? TokenExpiresAt { get; set; }
    public DateTimeOffset? LastSyncAt { get; set; }

    public bool TokenExpired(DateTimeOffset now) => Status == AccountStatus.Active && TokenExpiresAt is { } expires && expires <= now;

    public static LocalAccount Create(string name, string description, string contactEmail, string createdBy, DateTimeOffset now)
    {
        if (!AccountRules.IsValidName(name))
            throw new DomainException($"Account name '{name}' is invalid: {AccountRules.NameRuleText}.");
        if (!AccountRules.IsValidEmail(contactEmail))
            throw new DomainException($"Contact e-mail '{contactEmail}' is not a valid address.");

        var account = new LocalAccount
        {
            Id = Guid.CreateVersion7(now),
            Name = name,
            NameKey = AccountRules.KeyOf(name),
            ContactEmail = contactEmail,
            Status = AccountStatus.New,
            CreatedAt = now,
            CreatedBy = createdBy,
        };
        account.ChangeDescription(description, now);
        return account;
    }

    /// <summary>CSC took the request; it stays Requested until CSC approves or rejects it.</summary>
    public void MarkRequested(string requestId, DateTimeOffset now)
    {
        if (Status is AccountStatus.Active)
            throw new DomainException($"Account '{Name}' is already active with Cisco Software Central.");
        Status = AccountStatus.Requested;
        ActivationRequestId = requestId;
        RejectionReason = null;
        UpdatedAt = now;
    }

    public void Activate(string cscAccountId, string accessToken, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        if (Status is not (AccountStatus.Requested or AccountStatus.Active))
            throw new DomainException($"Account '{Name}' is {Status}: only a requested account can be activated.");
        Status = AccountStatus.Active;
        CscAccountId = cscAccountId;
        RenewToken(accessToken, expiresAt, now);
    }

    public void Reject(string reason, DateTimeOffset now)
    {
        if (Status is not AccountStatus.Requested)
            throw new DomainException($"Account '{Name}' is {Status}: only a requested account can be rejected.");
        Status = AccountStatus.Rejected;
        RejectionReason = reason;
        UpdatedAt = now;
    }

    public void RenewToken(string accessToken, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(accessToken))
            throw new DomainException("CSC returned an empty access token.");
        AccessToken = accessToken;
        TokenExpiresAt = expiresAt;
        UpdatedAt = now;
    }

    public void ChangeDescription(string description, DateTimeOffset now)
    {
        if (description.Length > AccountRules.DescriptionMaxLength)
            throw new DomainException($"Description is longer than {AccountRules.DescriptionMaxLength} characters.");
        Description = description;
        UpdatedAt = now;
    }
}
