using System.Text.RegularExpressions;

namespace Ssm.Domain.Accounts;

public static partial class AccountRules
{
    public const int NameMaxLength = 64;
    public const int DescriptionMaxLength = 500;
    public const int EmailMaxLength = 254;

    public const string NameRuleText =
        "1–64 characters: letters, digits, space, dot, dash or underscore";

    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= NameMaxLength && NamePattern().IsMatch(name) && name.Trim() == name;

    public static bool IsValidEmail(string? email) =>
        !string.IsNullOrEmpty(email) && email.Length <= EmailMaxLength && EmailPattern().IsMatch(email);

    /// <summary>Names are unique regardless of case, as an operator reads them.</summary>
    public static string KeyOf(string name) => name.ToUpperInvariant();

    [GeneratedRegex(@"^[\p{L}\p{Nd} ._-]+$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    private static partial Regex EmailPattern();
}
