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

    public void ChangeDescription(string description, DateTimeOffset now)
    {
        if (description.Length > AccountRules.DescriptionMaxLength)
            throw new DomainException($"Description is longer than {AccountRules.DescriptionMaxLength} characters.");
        Description = description;
        UpdatedAt = now;
    }
}
