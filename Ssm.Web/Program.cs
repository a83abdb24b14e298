using System.CommandLine;
using Ssm.Web.Console;

var root = new RootCommand("SSM On-Prem HA: the license server node and its operator's console verbs")
{
    NodeCommands.Node(),
    AdminCommands.Admin(),
};
foreach (var verb in BackupCommands.All())
    root.Subcommands.Add(verb);
foreach (var verb in HaCommands.All())
    root.Subcommands.Add(verb);
return await root.Parse(args).InvokeAsync();
