using System.CommandLine;
using Ssm.Web.Console;

var root = new RootCommand("SSM On-Prem HA: license server node, console verbs and tools")
{
    NodeCommands.Node(),
    AdminCommands.Admin(),
    ProductCommands.Product(),
    BenchCommands.Bench(),
};
foreach (var verb in HaCommands.All().Concat(CscCommands.All()))
    root.Subcommands.Add(verb);
return await root.Parse(args).InvokeAsync();
