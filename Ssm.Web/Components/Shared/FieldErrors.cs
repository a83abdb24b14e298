using FluentValidation.Results;

namespace Ssm.Web.Components.Shared;

/// <summary>What a form shows under each field: the first message of the command's own validator for it.</summary>
public static class FieldErrors
{
    public static Dictionary<string, string> Of(ValidationResult result) =>
        result.Errors.GroupBy(e => e.PropertyName).ToDictionary(g => g.Key, g => g.First().ErrorMessage);
}
