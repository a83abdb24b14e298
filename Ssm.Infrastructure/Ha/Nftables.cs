using System.Runtime.InteropServices;

namespace Ssm.Infrastructure.Ha;

/// <summary>
/// nftables commands for the loopback VIP, run in the node's own process through libnftables (the library the nft
/// program is a front end of) when it loads, else by starting nft. Starting nft took 80–190 ms on two loaded cores,
/// twice in every failover's gap (the old holder's release, the new holder's redirect); the library answers in about a
/// millisecond. Output and errors read as nft prints them, so callers parse one text either way.
/// </summary>
public static class Nftables
{
    private const string Library = "libnftables.so.1";
    private const uint OutputHandle = 1 << 3;
    private const uint OutputEcho = 1 << 5;

    // A context is not safe across threads; the commands are rare and short, so one at a time.
    private static readonly Lock Gate = new();
    private static readonly Lazy<bool> Loads = new(() => OperatingSystem.IsLinux() && NativeLibrary.TryLoad(Library, out _));

    /// <summary>Whether the commands run in this process (libnftables loaded) rather than by starting nft.</summary>
    public static bool InProcess => Loads.Value;

    /// <summary>Runs COMMANDS (nft's syntax, ';' between them) as `nft [--echo --handle] COMMANDS`; returns what it printed.</summary>
    public static async Task<string> RunAsync(string commands, bool echoHandles, CancellationToken cancellationToken, bool throwOnError = true)
    {
        if (!Loads.Value)
        {
            string[] args = echoHandles ? ["--echo", "--handle", commands] : [commands];
            return await ProcessRunner.RunAsync("nft", args, null, cancellationToken, throwOnError);
        }
        cancellationToken.ThrowIfCancellationRequested();
        var (status, output) = RunInProcess(commands, echoHandles);
        if (throwOnError && status != 0)
            throw new InvalidOperationException($"nft failed ({status}): {output.Trim()}");
        return output;
    }

    private static (int Status, string Output) RunInProcess(string commands, bool echoHandles)
    {
        lock (Gate)
        {
            var context = NewContext(0);
            if (context == 0)
                throw new InvalidOperationException("libnftables could not make a context");
            try
            {
                if (echoHandles)
                    SetOutputFlags(context, OutputHandle | OutputEcho);
                BufferOutput(context);
                BufferError(context);
                var status = RunCommands(context, commands);
                return (status, (Marshal.PtrToStringUTF8(OutputBuffer(context)) ?? "") + (Marshal.PtrToStringUTF8(ErrorBuffer(context)) ?? ""));
            }
            finally
            {
                FreeContext(context);
            }
        }
    }

    [DllImport(Library, EntryPoint = "nft_ctx_new")]
    private static extern nint NewContext(uint flags);

    [DllImport(Library, EntryPoint = "nft_ctx_free")]
    private static extern void FreeContext(nint context);

    [DllImport(Library, EntryPoint = "nft_ctx_output_set_flags")]
    private static extern void SetOutputFlags(nint context, uint flags);

    [DllImport(Library, EntryPoint = "nft_ctx_buffer_output")]
    private static extern int BufferOutput(nint context);

    [DllImport(Library, EntryPoint = "nft_ctx_buffer_error")]
    private static extern int BufferError(nint context);

    [DllImport(Library, EntryPoint = "nft_ctx_get_output_buffer")]
    private static extern nint OutputBuffer(nint context);

    [DllImport(Library, EntryPoint = "nft_ctx_get_error_buffer")]
    private static extern nint ErrorBuffer(nint context);

    [DllImport(Library, EntryPoint = "nft_run_cmd_from_buffer")]
    private static extern int RunCommands(nint context, [MarshalAs(UnmanagedType.LPUTF8Str)] string commands);
}
