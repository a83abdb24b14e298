namespace Ssm.Domain;

/// <summary>A rule of the domain was broken; the message is meant for the operator.</summary>
public sealed class DomainException(string message) : Exception(message);
