using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Ssm.Domain.Certificates;

/// <summary>
/// The Host Common Name products address the server by: an IPv4 or IPv6 address, or a fully qualified
/// domain name. A node with both IPv4 and IPv6 configured needs the FQDN (one name for both stacks).
/// </summary>
public static partial class HostNameRules
{
    public const int MaxLength = 253;

    /// <summary>Null when valid, else the reason in words an operator reads.</summary>
    public static string? Problem(string? name, bool dualStack)
    {
        if (string.IsNullOrWhiteSpace(name))
            return "Host Common Name is required.";
        if (name != name.Trim())
            return "Host Common Name must not start or end with spaces.";
        if (name.Length > MaxLength)
            return $"Host Common Name is longer than {MaxLength} characters.";
        var isAddress = IPAddress.TryParse(name, out var address) && (address.AddressFamily == AddressFamily.InterNetworkV6 || IsDottedQuad(name));
        if (isAddress)
        {
            if (dualStack)
                return $"This node has both IPv4 and IPv6 configured: use a fully qualified domain name, not the address {name}.";
            if (address!.AddressFamily == AddressFamily.InterNetworkV6 && address.IsIPv6LinkLocal)
                return $"{name} is a link-local IPv6 address, which products on other links cannot reach.";
            return null;
        }
        if (!name.Contains('.'))
            return $"'{name}' is not fully qualified: use a name like ssm.example.com, or an IP address.";
        foreach (var label in name.TrimEnd('.').Split('.'))
        {
            if (label.Length is 0 or > 63)
                return $"'{name}' has an empty label or one longer than 63 characters.";
            if (!LabelPattern().IsMatch(label))
                return $"'{name}' is not a valid host name: labels are letters, digits and inner hyphens.";
        }
        var top = name.TrimEnd('.').Split('.')[^1];
        if (top.All(char.IsAsciiDigit))
            return $"'{name}' looks like an IPv4 address but is not a valid one.";
        return null;
    }

    public static bool IsValid(string? name, bool dualStack) => Problem(name, dualStack) is null;

    /// <summary>The form names are compared and stored in: lower case, no trailing dot.</summary>
    public static string Normalize(string name) => IPAddress.TryParse(name, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6
        ? address.ToString()
        : name.TrimEnd('.').ToLower(CultureInfo.InvariantCulture);

    private static bool IsDottedQuad(string name) => name.Split('.') is { Length: 4 } parts && parts.All(p => byte.TryParse(p, out _));

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")]
    private static partial Regex LabelPattern();
}
