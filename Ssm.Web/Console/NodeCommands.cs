using System.CommandLine;
using Ssm.Web.Hosting;

namespace Ssm.Web.Console;

/// <summary>`ssm node`: serve this node until Ctrl-C or SIGTERM.</summary>
public static class NodeCommands
{
    public static readonly Option<string?> Database = new("--db")
    {
        Description = "PostgreSQL connection string of this node's database (else ConnectionStrings:Ssm)",
    };

    public static Command Node()
    {
        var name = new Option<string?>("--name") { Description = "Node name shown on the dashboard" };
        var listen = new Option<string?>("--listen") { Description = "Listen URL, e.g. http://127.0.0.1:8443" };
        var data = new Option<string?>("--data") { Description = "Folder for this node's local files" };
        var command = new Command("node", "Serve this node: dashboard, APIs, health and metrics") { name, listen, data, Database };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = new Dictionary<string, string?>();
            AddIfSet(overrides, "Node:Name", parse.GetValue(name));
            AddIfSet(overrides, "Node:Listen", parse.GetValue(listen));
            AddIfSet(overrides, "Node:DataDirectory", parse.GetValue(data));
            AddIfSet(overrides, "ConnectionStrings:Ssm", parse.GetValue(Database));
            var app = NodeHost.Build(overrides);
            await app.RunAsync();
            return 0;
        });
        return command;
    }

    public static void AddIfSet(IDictionary<string, string?> overrides, string key, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value))
            overrides[key] = value;
    }
}
