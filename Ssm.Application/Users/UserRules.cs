using System.Text.RegularExpressions;

namespace Ssm.Application.Users;

public static partial class UserRules
{
    public const int PasswordMinLength = 12;
    public const int PasswordMaxLength = 128;

    public static bool IsValidUserName(string? name) => name is not null && UserNamePattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9._-]{1,32}$")]
    private static partial Regex UserNamePattern();
}
