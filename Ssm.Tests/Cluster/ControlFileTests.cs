using Ssm.Infrastructure.Ha;
using Ssm.Tests.Support;

namespace Ssm.Tests.Cluster;

/// <summary>
/// A planned handover reads the old active's last checkpoint from its control file rather than by starting
/// pg_controldata: the reading must be pg_controldata's own, on a real data directory of the installed PostgreSQL.
/// </summary>
public sealed class ControlFileTests
{
    [Fact]
    public async Task The_checkpoint_read_from_the_control_file_is_the_one_pg_controldata_prints()
    {
        var bin = PostgresServer.FindPostgresBin();
        Assert.SkipWhen(bin is null, "no local PostgreSQL (its programs are needed to make a data directory)");
        var dir = Path.Combine(Path.GetTempPath(), $"ssm-control-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var asRoot = Environment.UserName == "root";
        try
        {
            if (asRoot)
                await Shell.RunAsync("chown", ["postgres", dir]);
            var data = Path.Combine(dir, "data");
            await PostgresServer.RunPostgresToolAsync(Path.Combine(bin!, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]);
            string[] controlData = [Path.Combine(bin!, "pg_controldata"), "-D", data];
            var printed = asRoot ? await Shell.RunAsync("runuser", ["-u", "postgres", "--", .. controlData]) : await Shell.RunAsync(controlData[0], controlData[1..]);
            var expected = printed.Split('\n').Single(l => l.StartsWith("Latest checkpoint location:")).Split(':', 2)[1].Trim();

            PostgresNode.CheckpointLocation(await File.ReadAllBytesAsync(Path.Combine(data, "global", "pg_control"), TestContext.Current.CancellationToken))
                .ShouldBe(expected);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_control_file_of_an_unknown_layout_gives_no_reading()
    {
        var control = new byte[64];
        BitConverter.TryWriteBytes(control.AsSpan(8), 1700u);   // pg_control_version of PostgreSQL 17
        PostgresNode.CheckpointLocation(control).ShouldBeNull();
        PostgresNode.CheckpointLocation(new byte[16]).ShouldBeNull();
    }
}
