using System.Xml.Linq;
using Marten;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.Extensions.Logging;

namespace Ssm.Infrastructure.Security;

public sealed class DataProtectionKey
{
    public string Id { get; set; } = "";
    public string Xml { get; set; } = "";
}

/// <summary>
/// The keys that sign login cookies live in the replicated database, so a session started on one
/// node stays valid after a failover to the other. The IXmlRepository contract is synchronous.
/// </summary>
public sealed class DataProtectionKeys(IDocumentStore store, ILogger<DataProtectionKeys> logger) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var session = store.QuerySession();
        return session.Query<DataProtectionKey>().ToList().Select(k => XElement.Parse(k.Xml)).ToList();
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        try
        {
            using var session = store.LightweightSession();
            session.Store(new DataProtectionKey { Id = friendlyName, Xml = element.ToString(SaveOptions.DisableFormatting) });
            // The only blocking call here: IXmlRepository is synchronous, and it runs once per new key (every 90 days).
            Task.Run(() => session.SaveChangesAsync()).GetAwaiter().GetResult();
        }
        catch (Npgsql.NpgsqlException ex)
        {
            // A standby cannot write; it uses the keys the active node created and replicated.
            logger.LogWarning("Data protection key {Key} not stored: {Error}", friendlyName, ex.Message);
        }
    }
}
