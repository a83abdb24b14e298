using System.Diagnostics;

namespace Ssm.Infrastructure.Ha;

internal static class ProcessRunner
{
    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>Runs a PostgreSQL program; as root it runs as the postgres user, since PostgreSQL refuses root.</summary>
    public static async Task<string> RunPostgresAsync(string program, IEnumerable<string> args, IDictionary<string, string>? environment,
        CancellationToken cancellationToken, bool throwOnError = true)
    {
        var (file, all) = IsRoot ? ("runuser", (IEnumerable<string>)["-u", "postgres", "--", program, .. args]) : (program, args);
        return await RunAsync(file, all, environment, cancellationToken, throwOnError);
    }

    public static async Task<string> RunAsync(string file, IEnumerable<string> args, IDictionary<string, string>? environment,
        CancellationToken cancellationToken, bool throwOnError = true)
    {
        // Stdin closed at once: a single-user postgres reads commands from it until end of file.
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        if (environment is not null)
            foreach (var (key, value) in environment)
                start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // An abandoned pg_basebackup or pg_rewind must not go on writing into the data folder.
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout + await stderr;
        if (throwOnError && process.ExitCode != 0)
            throw new InvalidOperationException($"{Path.GetFileName(start.ArgumentList.Count > 3 && IsRoot ? start.ArgumentList[3] : file)} failed ({process.ExitCode}): {output.Trim()}");
        return output;
    }
}
