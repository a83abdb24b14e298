namespace Ssm.Application.Ha;

/// <summary>What a console verb reports back: a readable message for the operator.</summary>
public sealed record VerbResult(string Message);
