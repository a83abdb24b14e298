namespace Ssm.Application.Users;

/// <summary>
/// What a new password must be: 12 to 128 characters, not the user name, and not one of the few hundred most common
/// passwords (an embedded list, compared in lower case). Every command that sets a password applies it.
/// </summary>
public static class PasswordPolicy
{
    private static readonly Lazy<HashSet<string>> Common = new(Load);

    public static bool IsCommon(string password) => Common.Value.Contains(password.Trim().ToLowerInvariant());

    /// <summary>The user name itself, in any case and with digits or punctuation around it ("Bob2024!" for bob).</summary>
    public static bool IsUserName(string password, string userName)
    {
        var name = UserAccountKey(userName);
        var core = password.Trim().ToLowerInvariant().Trim("0123456789!@#$%^&*()-_=+.,;:?~ ".ToCharArray());
        return name.Length > 0 && core == name;
    }

    public const string NotTheUserName = "The password must not be the user name.";

    /// <summary>The rules; <paramref name="userName"/> null when only the handler knows the user (validators are singletons).</summary>
    public static void AddPasswordRules<T>(this AbstractValidator<T> validator, Func<T, string> password, Func<T, string>? userName, string property = "Password") =>
        validator.RuleFor(x => password(x))
            .Must(p => p is { Length: >= UserRules.PasswordMinLength and <= UserRules.PasswordMaxLength })
            .WithMessage($"The password must be {UserRules.PasswordMinLength} to {UserRules.PasswordMaxLength} characters.")
            .OverridePropertyName(property)
            .DependentRules(() =>
            {
                validator.RuleFor(x => password(x))
                    .Must((x, p) => userName is null || !IsUserName(p, userName(x))).WithMessage(NotTheUserName)
                    .Must(p => !IsCommon(p)).WithMessage("The password is among the most common ones; choose another.")
                    .OverridePropertyName(property);
            });

    private static string UserAccountKey(string userName) => Domain.Users.UserAccount.KeyOf(userName ?? "");

    private static HashSet<string> Load()
    {
        using var stream = typeof(PasswordPolicy).Assembly.GetManifestResourceStream("Ssm.Application.Users.common-passwords.txt")
            ?? throw new InvalidOperationException("The list of common passwords is not embedded.");
        using var reader = new StreamReader(stream);
        var words = new HashSet<string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
            if (line.Length > 0 && !line.StartsWith('#'))
                words.Add(line.Trim());
        return words;
    }
}
