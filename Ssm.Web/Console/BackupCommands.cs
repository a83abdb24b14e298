using System.CommandLine;
using System.Diagnostics;
using FluentValidation;
using Mediator;
using Ssm.Application.Backups;
using Ssm.Application.Common;
using Ssm.Infrastructure.Backups;
using Ssm.Infrastructure.Persistence;
using Ssm.Web.Hosting;
using Ssm.Web.Security;

namespace Ssm.Web.Console;

/// <summary>
/// `ssm backup` and `ssm restore` (decision 0028): the node's database, encrypted with a passphrase read from
/// SSM_BACKUP_PASSPHRASE or standard input, never from a flag (which `ps` would show).
/// Exit codes: 0 done, 1 failed, 2 invalid input (a wrong passphrase, a damaged file), 3 refused in this state.
/// </summary>
public static class BackupCommands
{
    public const string PassphraseVariable = "SSM_BACKUP_PASSPHRASE";

    public static IEnumerable<Command> All()
    {
        yield return Backup();
        yield return Restore();
    }

    private static Command Backup()
    {
        var output = new Option<string>("--out") { Description = "file to write the encrypted backup to (must not exist)", Required = true };
        var command = new Command("backup",
            $"Take an online, consistent backup of the active node's database, encrypted with a passphrase ({PassphraseVariable} or standard input)")
        {
            output, NodeCommands.Database,
        };
        command.SetAction(async (parse, ct) =>
        {
            var path = Path.GetFullPath(parse.GetValue(output)!);
            if (File.Exists(path))
                return AdminCommands.Fail(2, $"{path} exists already; a backup never overwrites a file.");
            var passphrase = ReadPassphrase();
            var clock = Stopwatch.StartNew();
            return await AdminCommands.RunAsync(parse.GetValue(NodeCommands.Database), async sender =>
            {
                var (contents, plain, written) = await BackupArchive.WriteFileAsync(path, passphrase,
                    async (archive, token) => await sender.Send(new TakeBackup(archive, Path.GetFileName(path)), token), ct);
                System.Console.WriteLine($"Backup of {contents.Node} as at {contents.TakenAt:u}: {contents.Tables} tables, {contents.Rows} rows, " +
                                         $"{plain / 1e6:0.0} MB of data, {written / 1e6:0.0} MB encrypted, in {clock.Elapsed.TotalSeconds:0.0} s.");
                System.Console.WriteLine($"Written to {path}. Keep the passphrase apart from the file: without it nothing can be restored.");
            });
        });
        return command;
    }

    private static Command Restore()
    {
        var from = new Option<string>("--from") { Description = "the backup file", Required = true };
        var command = new Command("restore",
            $"Restore a backup onto a fresh standalone node's database ({PassphraseVariable} or standard input), then restart that node")
        {
            from, NodeCommands.Database,
        };
        command.SetAction(async (parse, ct) =>
        {
            var path = Path.GetFullPath(parse.GetValue(from)!);
            if (!File.Exists(path))
                return AdminCommands.Fail(2, $"{path} does not exist.");
            var passphrase = ReadPassphrase();
            var clock = Stopwatch.StartNew();
            return await AdminCommands.RunAsync(parse.GetValue(NodeCommands.Database), async sender =>
            {
                await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                await using var archive = await BackupArchive.OpenAsync(file, passphrase, ct);
                var contents = await sender.Send(new RestoreBackup(archive, Path.GetFileName(path)), ct);
                System.Console.WriteLine($"Restored the backup of {contents.Node} as at {contents.TakenAt:u}: {contents.Tables} tables, " +
                                         $"{contents.Rows} rows, in {clock.Elapsed.TotalSeconds:0.0} s.");
                System.Console.WriteLine("Restart the node now: it reads the restored product CA, server certificate and keys at start. " +
                                         "Users sign in again. To build a cluster again, run ha_deploy on it.");
            });
        });
        return command;
    }

    private static string ReadPassphrase()
    {
        var passphrase = Environment.GetEnvironmentVariable(PassphraseVariable);
        if (!string.IsNullOrEmpty(passphrase))
            return passphrase;
        if (!System.Console.IsInputRedirected)
            System.Console.Error.Write("Backup passphrase: ");
        return System.Console.ReadLine() ?? "";
    }
}
