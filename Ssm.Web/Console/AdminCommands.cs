using System.CommandLine;
using FluentValidation;
using Mediator;
using Ssm.Application.Common;
using Ssm.Application.Users;
using Ssm.Domain.Users;
using Ssm.Infrastructure.Persistence;
using Ssm.Web.Hosting;
using Ssm.Web.Security;

namespace Ssm.Web.Console;

/// <summary>`ssm admin ...`: user administration from the node's console.</summary>
public static class AdminCommands
{
    public static Command Admin()
    {
        var user = new Option<string>("--user") { Description = "User name", DefaultValueFactory = _ => "admin" };
        var role = new Option<string>("--role") { Description = "admin or viewer", DefaultValueFactory = _ => "admin" };
        role.AcceptOnlyFromAmong("admin", "viewer");
        var setPassword = new Command("set-password",
            $"Create a user or set its password. The password is read from {FirstAdmin.PasswordVariable} if set, else from standard input.")
        {
            user, role, NodeCommands.Database,
        };
        setPassword.SetAction(async (parse, cancellationToken) =>
        {
            var password = Environment.GetEnvironmentVariable(FirstAdmin.PasswordVariable);
            if (string.IsNullOrEmpty(password))
            {
                if (!System.Console.IsInputRedirected)
                    System.Console.Error.Write("New password: ");
                password = System.Console.ReadLine() ?? "";
            }
            var userRole = parse.GetValue(role) == "viewer" ? UserRole.Viewer : UserRole.Admin;
            return await RunAsync(parse.GetValue(NodeCommands.Database), async sender =>
            {
                await sender.Send(new SetUserPassword(parse.GetValue(user)!, password, userRole), cancellationToken);
                System.Console.WriteLine($"Password of '{parse.GetValue(user)}' set (role {parse.GetValue(role)}).");
            });
        });
        return new Command("admin", "User administration") { setPassword };
    }

    /// <summary>Runs one console verb against this node's database, as the console (admin) user.</summary>
    public static async Task<int> RunAsync(string? database, Func<ISender, Task> verb)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        var overrides = new Dictionary<string, string?>();
        NodeCommands.AddIfSet(overrides, "ConnectionStrings:Ssm", database);
        builder.Configuration.AddInMemoryCollection(overrides);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        try
        {
            builder.Services.AddSsmCore(builder.Configuration);
            using var host = builder.Build();
            await host.Services.GetRequiredService<SchemaInitializer>().StartAsync(CancellationToken.None);
            await using var scope = host.Services.CreateAsyncScope();
            scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = CurrentUser.Console;
            await verb(scope.ServiceProvider.GetRequiredService<ISender>());
            return 0;
        }
        catch (ValidationException ex)
        {
            return Fail(2, string.Join(" ", ex.Errors.Select(e => e.ErrorMessage)));
        }
        catch (Ssm.Infrastructure.Backups.BackupArchiveException ex)
        {
            return Fail(2, ex.Message);
        }
        catch (ConflictException ex)
        {
            return Fail(3, ex.Message);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or Npgsql.NpgsqlException)
        {
            return Fail(1, ex.Message);
        }
    }

    /// <summary>Says what went wrong on standard error and returns the exit code.</summary>
    internal static int Fail(int code, string message)
    {
        System.Console.Error.WriteLine($"error: {message}");
        return code;
    }
}
