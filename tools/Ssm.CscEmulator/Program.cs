using System.CommandLine;
using Ssm.CscEmulator;

return await CscCommands.Root().Parse(args).InvokeAsync();
