using Microsoft.Extensions.Options;
using Ssm.Application.Ha;
using Ssm.Infrastructure.Ha;

namespace Ssm.Tests.Cluster;

public sealed class LocalStateFileTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_state_file_from_before_the_cluster_CA_loses_the_witness_password_and_becomes_private()
    {
        var data = Path.Combine(Path.GetTempPath(), $"ssm-state-{Guid.NewGuid():N}");
        Directory.CreateDirectory(data);
        try
        {
            var path = Path.Combine(data, "ha-state.json");
            File.WriteAllText(path, """
                { "Deployed": true, "Identity": "Primary", "Epoch": 7, "PeerName": "secondary",
                  "Witness": "Host=127.0.0.13;Port=15432;Username=postgres;Password=old-secret;Database=postgres" }
                """);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

            var state = new LocalStateFile(Options.Create(new NodeOptions { DataDirectory = data })).Load();

            (state.Deployed, state.Epoch, state.UsesWitness).ShouldBe((true, 7L, true));
            File.ReadAllText(path).ShouldNotContain("old-secret");
            File.GetUnixFileMode(path).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
