using System.Text.Json;

namespace Ssm.CscEmulator;

public sealed record Entitlement(string Tag, string Name, int Quantity, DateOnly StartDate, DateOnly EndDate);

public sealed record EntitlementList(IReadOnlyList<Entitlement> Entitlements);

/// <summary>DATA/catalogue.json: the licenses every approved account owns. Read on each call, so an edit applies at once.</summary>
public sealed class CscCatalogue
{
    private readonly string _path;

    public CscCatalogue(string dataDirectory)
    {
        _path = Path.Combine(dataDirectory, "catalogue.json");
        if (File.Exists(_path))
            return;
        var start = DateOnly.FromDateTime(DateTime.UtcNow);
        var end = start.AddYears(3);
        var list = new EntitlementList(
        [
            new("regid.2017-07.com.cisco.DNA_Advantage,1.0_6c1f0a52-4b8e-4d0e-9a37-2f5d8e1c7b40", "DNA Advantage", 100, start, end),
            new("regid.2017-07.com.cisco.DNA_Essentials,1.0_0d93b7e4-58a1-4f6c-b2d9-8e4a1c6f3e25", "DNA Essentials", 250, start, end),
            new("regid.2017-08.com.cisco.Network_Advantage,1.0_a4e27c19-3d6b-4a85-9f02-71c8b5d0e9f6", "Network Advantage", 50, start, end),
            new("regid.2018-02.com.cisco.Security_Plus,1.0_5b8d2f7a-0c4e-4e19-a6b3-d92f1e7c4a08", "Security Plus", 20, start, end),
        ]);
        CscCertificates.WriteAtomically(_path, JsonSerializer.Serialize(list, CscStore.Json) + "\n", privateFile: false);
    }

    public EntitlementList Read() =>
        JsonSerializer.Deserialize<EntitlementList>(File.ReadAllText(_path), CscStore.Json)
        ?? throw new InvalidOperationException($"{_path} is empty");
}
