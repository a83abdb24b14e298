using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Testcontainers.PostgreSql;

[assembly: AssemblyFixture(typeof(Ssm.Tests.Support.PostgresServerLifetime))]

namespace Ssm.Tests.Support;

/// <summary>
/// One real PostgreSQL server for the whole test run, found in this order: a server named by
/// SSM_TEST_POSTGRES (a connection string allowed to create databases); a throwaway cluster made
/// with initdb/pg_ctl; a Testcontainers container when a Docker engine answers; else a clear error.
/// SSM_TEST_TESTCONTAINERS=1 skips the local cluster (the CI phase that runs the tests on Testcontainers, with podman's
/// Docker API); SSM_TEST_POSTGRES_IMAGE names the container's image (default postgres:15; docker/build-images.sh
/// builds localhost/ssm-postgres:15 where no registry is reachable).
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string Variable = "SSM_TEST_POSTGRES";
    public const string ContainersVariable = "SSM_TEST_TESTCONTAINERS";
    public const string ImageVariable = "SSM_TEST_POSTGRES_IMAGE";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static PostgresServer? _shared;

    private readonly string _adminConnectionString;
    private readonly Func<ValueTask> _stop;

    private PostgresServer(string adminConnectionString, Func<ValueTask> stop)
    {
        _adminConnectionString = adminConnectionString;
        _stop = stop;
    }

    public static async Task<PostgresServer> GetAsync()
    {
        await Gate.WaitAsync();
        try
        {
            return _shared ??= await StartAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    internal static async ValueTask DisposeSharedAsync()
    {
        if (_shared is not null)
            await _shared.DisposeAsync();
        _shared = null;
    }

    /// <summary>A fresh, empty database on this server; returns its connection string.</summary>
    public string ConnectionStringFor(string name) =>
        new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = name, Pooling = true }.ConnectionString;

    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using var connection = new NpgsqlConnection(_adminConnectionString);
        await connection.OpenAsync();
        await using (var drop = new NpgsqlCommand($"drop database if exists \"{name}\" with (force)", connection))
            await drop.ExecuteNonQueryAsync();
        await using (var create = new NpgsqlCommand($"create database \"{name}\"", connection))
            await create.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    public ValueTask DisposeAsync() => _stop();

    private static async Task<PostgresServer> StartAsync()
    {
        var given = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(given))
            return new PostgresServer(given, () => ValueTask.CompletedTask);

        var containersOnly = Environment.GetEnvironmentVariable(ContainersVariable) == "1";
        var bin = FindPostgresBin();
        if (bin is not null && !containersOnly)
            return await StartLocalClusterAsync(bin);

        if (File.Exists("/var/run/docker.sock") || Environment.GetEnvironmentVariable("DOCKER_HOST") is not null)
        {
            var image = Environment.GetEnvironmentVariable(ImageVariable) is { Length: > 0 } named ? named : "postgres:15";
            // As the local throwaway cluster below (the builder itself turns fsync, synchronous_commit and
            // full_page_writes off): room for the connections of the tests that run in parallel.
            var container = new PostgreSqlBuilder(image).WithCommand("-c", "max_connections=300").Build();
            await container.StartAsync();
            return new PostgresServer(container.GetConnectionString(), () => container.DisposeAsync());
        }
        if (containersOnly)
            throw new InvalidOperationException($"{ContainersVariable}=1 but no Docker engine: set DOCKER_HOST (podman system service) or start Docker.");

        throw new InvalidOperationException(
            $"No PostgreSQL for the tests: set {Variable} to a connection string, install PostgreSQL " +
            "(apt-get install postgresql, which gives initdb and pg_ctl), or start a Docker engine.");
    }

    public static string? FindPostgresBin()
    {
        if (Directory.Exists("/usr/lib/postgresql"))
            foreach (var dir in Directory.GetDirectories("/usr/lib/postgresql").OrderDescending())
                if (File.Exists(Path.Combine(dir, "bin", "pg_ctl")))
                    return Path.Combine(dir, "bin");
        return null;
    }

    private static async Task<PostgresServer> StartLocalClusterAsync(string bin)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ssm-test-pg-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(dir);
        var port = FreePort();
        var asRoot = Environment.UserName == "root";
        if (asRoot)
            await Shell.RunAsync("chown", ["postgres", dir]);

        await RunPostgresToolAsync(asRoot, Path.Combine(bin, "initdb"), ["-D", dir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]);
        // Tests trade durability for speed: this server lives for one run.
        await RunPostgresToolAsync(asRoot, Path.Combine(bin, "pg_ctl"),
            ["-D", dir, "-l", Path.Combine(dir, "server.log"), "-w", "-t", "60", "-o",
             $"-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", "start"]);

        var connectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres";
        return new PostgresServer(connectionString, async () =>
        {
            await RunPostgresToolAsync(asRoot, Path.Combine(bin, "pg_ctl"), ["-D", dir, "-m", "immediate", "-w", "stop"]);
            Directory.Delete(dir, recursive: true);
        });
    }

    private static Task RunPostgresToolAsync(bool asRoot, string tool, string[] args) =>
        asRoot ? Shell.RunAsync("runuser", ["-u", "postgres", "--", tool, .. args]) : Shell.RunAsync(tool, args);

    /// <summary>A PostgreSQL program, as the postgres user when the tests run as root (PostgreSQL refuses root).</summary>
    public static Task RunPostgresToolAsync(string tool, string[] args) => RunPostgresToolAsync(Environment.UserName == "root", tool, args);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Stops the shared server when the test assembly is done.</summary>
public sealed class PostgresServerLifetime : IAsyncDisposable
{
    public ValueTask DisposeAsync() => PostgresServer.DisposeSharedAsync();
}

public static class Shell
{
    /// <summary>kill -9 of the postmaster named in a data folder's postmaster.pid, if it still runs.</summary>
    public static async Task KillPostmasterAsync(string pidFile)
    {
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadLines(pidFile).First(), out var pid))
            return;
        try
        {
            using var postmaster = Process.GetProcessById(pid);
            postmaster.Kill();
            await postmaster.WaitForExitAsync();
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    public static async Task<string> RunAsync(string file, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', start.ArgumentList)} exited {process.ExitCode}: {await stderr}");
        return await stdout;
    }
}
