using System.Diagnostics;

namespace Ssm.Application.Common;

/// <summary>Time since this process started: start-up log lines say where a restarted node spends its rejoin time.</summary>
public static class ProcessUptime
{
    private static readonly DateTime Started = Process.GetCurrentProcess().StartTime.ToUniversalTime();

    public static double Milliseconds => (DateTime.UtcNow - Started).TotalMilliseconds;
}
