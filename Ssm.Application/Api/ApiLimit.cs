namespace Ssm.Application.Api;

/// <summary>The API toolkit's "limit": -1 for every item, N for the first N.</summary>
public static class ApiLimit
{
    public const int All = -1;

    public static IReadOnlyList<T> Apply<T>(IEnumerable<T> items, int limit) => (limit < 0 ? items : items.Take(limit)).ToList();

    public static void AddLimitRule<T>(this AbstractValidator<T> validator, Func<T, int> limit) =>
        validator.RuleFor(x => limit(x)).GreaterThanOrEqualTo(All).OverridePropertyName("Limit")
            .WithMessage("limit is -1 for all items or N for the first N.");
}
