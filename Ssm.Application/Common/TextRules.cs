namespace Ssm.Application.Common;

public static class TextRules
{
    /// <summary>No control characters: nothing for a log or a page to trip over, and no NUL, which PostgreSQL refuses to store.</summary>
    public static IRuleBuilderOptions<T, string?> Printable<T>(this IRuleBuilder<T, string?> rule) =>
        rule.Must(text => text is null || !text.Any(char.IsControl)).WithMessage("{PropertyName} must not contain control characters.");
}
