using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.Extensions.Logging;
using Npgsql;
using Weasel.Core;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;

namespace Ssm.Infrastructure.Security;

/// <summary>
/// The keys that sign login cookies live in the replicated database, so a session started on one
/// node stays valid after a failover to the other. IXmlRepository is synchronous and Marten 9 is
/// async-only, so this uses Npgsql's synchronous API on a small table of its own.
/// </summary>
public sealed class DataProtectionKeys(NpgsqlDataSource dataSource, ILogger<DataProtectionKeys> logger) : IXmlRepository
{
    public static Table Table()
    {
        var table = new Table(new PostgresqlObjectName(Persistence.MartenSetup.Schema, "data_protection_keys", SchemaUtils.IdentifierUsage.General));
        table.AddColumn<string>("id").AsPrimaryKey();
        table.AddColumn<string>("xml").NotNull();
        return table;
    }

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        try
        {
            return ReadAll();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // A node's first start reads the key ring before the schema is applied. The table is made now, as the
            // schema would make it, so that the key data protection creates next is stored: a key kept only in
            // memory would sign cookies and API tokens that the other node cannot read after a failover.
            CreateTable();
            logger.LogInformation("Created the data protection key table (first start of this database)");
            return ReadAll();
        }
    }

    private void CreateTable()
    {
        // The statement Weasel would run for the schema's table (so that the schema finds nothing to change), run
        // here directly: IXmlRepository is synchronous, and Weasel's migrations print their SQL to the console.
        var sql = new StringWriter();
        sql.WriteLine($"create schema if not exists {Persistence.MartenSetup.Schema};");
        Table().WriteCreateStatement(new PostgresqlMigrator { TableCreation = CreationStyle.CreateIfNotExists }, sql);
        using var command = dataSource.CreateCommand(sql.ToString());
        command.ExecuteNonQuery();
    }

    private List<XElement> ReadAll()
    {
        using var command = dataSource.CreateCommand($"select xml from {Persistence.MartenSetup.Schema}.data_protection_keys");
        using var reader = command.ExecuteReader();
        var keys = new List<XElement>();
        while (reader.Read())
            keys.Add(XElement.Parse(reader.GetString(0)));
        return keys;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        try
        {
            using var command = dataSource.CreateCommand(
                $"insert into {Persistence.MartenSetup.Schema}.data_protection_keys (id, xml) values ($1, $2) on conflict (id) do update set xml = excluded.xml");
            command.Parameters.Add(new NpgsqlParameter { Value = friendlyName });
            command.Parameters.Add(new NpgsqlParameter { Value = element.ToString(SaveOptions.DisableFormatting) });
            command.ExecuteNonQuery();
        }
        catch (NpgsqlException ex)
        {
            // A standby cannot write; it uses the keys the active node created and replicated.
            logger.LogWarning("Data protection key {Key} not stored: {Error}", friendlyName, ex.Message);
        }
    }
}
