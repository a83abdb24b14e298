namespace Ssm.Infrastructure.Csc;

/// <summary>Where Cisco Software Central is and which root its TLS certificate chains to (section "Csc").</summary>
public sealed class CscOptions
{
    public const string Section = "Csc";

    /// <summary>Base address, e.g. https://127.0.0.15:9443 (the emulator). Empty: this node does not synchronize.</summary>
    public string Url { get; set; } = "";
    /// <summary>PEM file of the CSC root CA to trust; empty trusts the system's roots.</summary>
    public string RootCertificate { get; set; } = "";
    /// <summary>How often each node asks whether a scheduled synchronization is due.</summary>
    public int ScheduleCheckSeconds { get; set; } = 15;
    public int AttemptTimeoutSeconds { get; set; } = 30;
    public int Retries { get; set; } = 3;
}
