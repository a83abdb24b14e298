using System.Net;
using Npgsql;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// `ssm ha_witness_init`: a witness PostgreSQL that speaks only TLS with a certificate of the cluster CA, and admits
/// the nodes by their cluster certificates as the role ssm_witness, owner of the one database it needs. No password
/// exists anywhere (decision 0018). Start it with pg_ctl afterwards; it listens on the given address.
/// </summary>
public static class WitnessSetup
{
    public const string Role = "ssm_witness";

    public static string ConnectionString(string address, int port) =>
        new NpgsqlConnectionStringBuilder { Host = address, Port = port, Username = Role, Database = Role }.ConnectionString;

    public static async Task<string> InitializeAsync(string postgresBin, string dataDirectory, string keysDirectory, string address, int port,
        CancellationToken cancellationToken)
    {
        var credentials = ClusterCredentials.Load(keysDirectory);
        var data = Path.GetFullPath(dataDirectory);
        var fresh = !File.Exists(Path.Combine(data, "PG_VERSION"));
        Directory.CreateDirectory(data);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (ProcessRunner.IsRoot)
            await ProcessRunner.RunAsync("chown", ["postgres", data], null, cancellationToken);
        if (fresh)
            await ProcessRunner.RunPostgresAsync(Path.Combine(postgresBin, "initdb"),
                ["-D", data, "-U", "postgres", "--auth-local=peer", "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], null, cancellationToken);

        // Its certificate is issued again at every init: a rotated CA or a new address needs only this verb and a restart.
        var ip = IPAddress.TryParse(address, out var parsed) ? parsed : null;
        using (var certificate = credentials.Issue("witness", ClusterCredentials.ServerRole, ip is null ? [] : [ip], ip is null ? [address] : [],
                   TimeSpan.FromDays(397)))
            ClusterCredentials.WriteCertificate(certificate, Path.Combine(data, "server.crt"), Path.Combine(data, "server.key"));
        File.Copy(credentials.AuthoritiesPath, Path.Combine(data, "ca.crt"), overwrite: true);
        await File.WriteAllTextAsync(Path.Combine(data, "pg_hba.conf"), $"""
            # Written by ssm ha_witness_init: the local administrator by peer authentication; the nodes over TLS by their
            # cluster certificates only, as {Role}, to its database only.
            local    all        postgres                 peer map=local
            hostssl  {Role}  {Role}  0.0.0.0/0   cert map=nodes
            hostssl  {Role}  {Role}  ::/0        cert map=nodes

            """, cancellationToken);
        var ident = "# Written by ssm ha_witness_init.\n" +
                    string.Concat(new[] { "postgres", "root", Environment.UserName }.Distinct().Select(u => $"local  {u}  postgres\n")) +
                    $"nodes  /^(.*)$  {Role}\n";
        await File.WriteAllTextAsync(Path.Combine(data, "pg_ident.conf"), ident, cancellationToken);
        var conf = Path.Combine(data, "postgresql.conf");
        if (!(await File.ReadAllTextAsync(conf, cancellationToken)).Contains("# ssm witness"))
            await File.AppendAllTextAsync(conf, $"""

                # ssm witness: TLS only, with a certificate of the cluster CA.
                listen_addresses = '{address}'
                port = {port}
                ssl = on
                ssl_cert_file = 'server.crt'
                ssl_key_file = 'server.key'
                ssl_ca_file = 'ca.crt'
                ssl_min_protocol_version = 'TLSv1.3'
                unix_socket_permissions = 0700

                """, cancellationToken);
        if (ProcessRunner.IsRoot)
            await ProcessRunner.RunAsync("chown", ["-R", "postgres", data], null, cancellationToken);

        // The role and its database, made on a server that listens on its socket only; the marker says it was done,
        // so an init that died half-way is finished by the next one.
        var ready = Path.Combine(data, "ssm-witness-ready");
        if (!File.Exists(ready))
        {
            var pgCtl = Path.Combine(postgresBin, "pg_ctl");
            await ProcessRunner.RunPostgresAsync(pgCtl,
                ["-D", data, "-l", Path.Combine(data, "server.log"), "-w", "-t", "60", "-o", $"-k '{data}' -c listen_addresses=''", "start"], null, cancellationToken);
            try
            {
                var local = new NpgsqlConnectionStringBuilder { Host = data, Port = port, Username = "postgres", Database = "postgres", Pooling = false };
                await using var connection = new NpgsqlConnection(local.ConnectionString);
                await connection.OpenAsync(cancellationToken);
                await using (var role = new NpgsqlCommand(
                                 $"do $$ begin if not exists (select 1 from pg_roles where rolname = '{Role}') then create role {Role} login nosuperuser nocreatedb nocreaterole; end if; end $$",
                                 connection))
                    await role.ExecuteNonQueryAsync(cancellationToken);
                await using (var exists = new NpgsqlCommand($"select exists (select 1 from pg_database where datname = '{Role}')", connection))
                    if (await exists.ExecuteScalarAsync(cancellationToken) is not true)
                    {
                        await using var database = new NpgsqlCommand($"create database {Role} owner {Role}", connection);
                        await database.ExecuteNonQueryAsync(cancellationToken);
                    }
                await File.WriteAllTextAsync(ready, "", cancellationToken);
            }
            finally
            {
                await ProcessRunner.RunPostgresAsync(pgCtl, ["-D", data, "-m", "fast", "-w", "stop"], null, CancellationToken.None, throwOnError: false);
            }
        }
        return ConnectionString(address, port);
    }
}
