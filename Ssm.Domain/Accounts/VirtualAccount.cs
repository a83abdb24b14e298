namespace Ssm.Domain.Accounts;

/// <summary>
/// A virtual account of a local account, as in SSM: registration tokens, product instances and their license usage
/// belong to one; licenses are bought per local account. <see cref="DefaultName"/> is made with the account and has
/// the account's own id, so "the default virtual account of account X" needs no lookup (decision 0023).
/// </summary>
public sealed class VirtualAccount
{
    public const string DefaultName = "DEFAULT";
    public const int DescriptionMaxLength = AccountRules.DescriptionMaxLength;

    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public string Name { get; set; } = "";
    /// <summary>Unique per account with <see cref="AccountId"/>, regardless of case.</summary>
    public string NameKey { get; set; } = "";
    public string Description { get; set; } = "";
    public bool IsDefault { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";

    /// <summary>The unique index's value: one name per account.</summary>
    public static string KeyOf(Guid accountId, string name) => $"{accountId:N}/{AccountRules.KeyOf(name)}";

    public static VirtualAccount DefaultOf(LocalAccount account, string createdBy, DateTimeOffset now) => new()
    {
        Id = account.Id,
        AccountId = account.Id,
        Name = DefaultName,
        NameKey = KeyOf(account.Id, DefaultName),
        Description = $"Default virtual account of {account.Name}",
        IsDefault = true,
        CreatedAt = now,
        CreatedBy = createdBy,
    };

    public static VirtualAccount Create(Guid accountId, string name, string description, string createdBy, DateTimeOffset now)
    {
        var account = new VirtualAccount { Id = Guid.CreateVersion7(now), AccountId = accountId, CreatedAt = now, CreatedBy = createdBy };
        account.Rename(name);
        account.ChangeDescription(description);
        return account;
    }

    public void Rename(string name)
    {
        if (!AccountRules.IsValidName(name))
            throw new DomainException($"Virtual account name '{name}' is invalid: {AccountRules.NameRuleText}.");
        if (IsDefault && AccountRules.KeyOf(name) != DefaultName)
            throw new DomainException($"The {DefaultName} virtual account keeps its name.");
        Name = name;
        NameKey = KeyOf(AccountId, name);
    }

    public void ChangeDescription(string description)
    {
        if (description.Length > DescriptionMaxLength)
            throw new DomainException($"Description is longer than {DescriptionMaxLength} characters.");
        Description = description;
    }

    /// <summary>The {virtualAccount} of a URL names this one, by id or by name in any case.</summary>
    public bool IsNamedBy(string nameOrId) =>
        (Guid.TryParse(nameOrId, out var id) && id == Id) || AccountRules.KeyOf(nameOrId.Trim()) == AccountRules.KeyOf(Name);
}
