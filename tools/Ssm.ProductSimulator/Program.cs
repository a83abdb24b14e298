using System.CommandLine;
using Ssm.ProductSimulator;

var root = new RootCommand("A network product on Smart Transport, for demos, tests and benchmarks (docs/smart-transport.md)")
{
    BenchCommands.Bench(),
};
foreach (var verb in ProductCommands.Verbs())
    root.Subcommands.Add(verb);
return await root.Parse(args).InvokeAsync();
