using Npgsql;

namespace Ssm.Tests.Support;

/// <summary>Reads a node's own database directly (its Unix socket), as the failover tests check what survived.</summary>
public static class NodeDatabase
{
    /// <summary>The names of the local accounts in the database behind the connection string.</summary>
    public static async Task<List<string>> AccountNamesAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select data->>'Name' from ssm.mt_doc_localaccount", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync())
            names.Add(reader.GetString(0));
        return names;
    }
}
