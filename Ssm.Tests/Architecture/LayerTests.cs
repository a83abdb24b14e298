using System.Reflection;

namespace Ssm.Tests.Architecture;

/// <summary>
/// The layers point one way (docs/architecture.md): Domain knows nothing of ours or of storage, Application knows no
/// infrastructure or web, Infrastructure no web, and no product project knows a tool or the CSC emulator. Read from
/// the compiled assemblies' references, so a using that the compiler keeps is a dependency and one it drops is not.
/// The tools (tools/) may use the product; the product never uses them.
/// </summary>
public sealed class LayerTests
{
    private const string Domain = "Ssm.Domain", Application = "Ssm.Application", Infrastructure = "Ssm.Infrastructure", Web = "ssm";

    /// <summary>The five product projects' assemblies (the tests aside).</summary>
    private static readonly string[] Product = [Domain, Application, Infrastructure, Web];

    /// <summary>The programs under tools/: test doubles and load drivers that ship apart from the node.</summary>
    private static readonly string[] Tools =
    [
        typeof(Ssm.CscEmulator.CscStore).Assembly.GetName().Name!,
        typeof(Ssm.ProductSimulator.ProductClient).Assembly.GetName().Name!,
    ];

    private static readonly string[] Storage = ["Marten", "Npgsql", "JasperFx", "Weasel"];

    public static TheoryData<string, string> Forbidden() => new()
    {
        { Domain, Application }, { Domain, Infrastructure }, { Domain, Web },
        { Domain, "Marten" }, { Domain, "Npgsql" }, { Domain, "Mediator" }, { Domain, "Microsoft.AspNetCore" }, { Domain, "Quartz" },
        { Application, Infrastructure }, { Application, Web }, { Application, "Microsoft.AspNetCore" }, { Application, "Quartz" },
        { Application, "Npgsql" },
        { Infrastructure, Web },
    };

    [Theory]
    [MemberData(nameof(Forbidden))]
    public void A_layer_does_not_reference_what_it_must_not_know(string layer, string forbidden) =>
        References(layer).Where(r => Matches(r, forbidden)).ShouldBeEmpty($"{layer} references {forbidden}");

    [Fact]
    public void The_domain_references_only_the_runtime() =>
        References(Domain).Where(r => !(r.StartsWith("System", StringComparison.Ordinal) || r is "netstandard" or "mscorlib"))
            .ShouldBeEmpty();

    [Fact]
    public void No_product_project_references_a_tool_or_the_emulator()
    {
        foreach (var project in Product)
            References(project).Where(r => Tools.Contains(r) || (r.StartsWith("Ssm.", StringComparison.Ordinal) && !Product.Contains(r)))
                .ShouldBeEmpty($"{project} references a tool");
    }

    [Fact]
    public void The_rules_see_the_references_they_guard()
    {
        // A test that cannot fail is a defect: the allowed references are there, so a forbidden one would be seen too.
        References(Application).ShouldContain(Domain);
        References(Application).ShouldContain(r => Storage.Contains(r));
        References(Infrastructure).ShouldContain("Npgsql");
        References(Web).ShouldContain(Infrastructure);
        References(Tools[1]).ShouldContain(Web);
    }

    private static bool Matches(string reference, string name) =>
        reference == name || reference.StartsWith(name + ".", StringComparison.Ordinal);

    private static IReadOnlyList<string> References(string assembly) =>
        Assembly.Load(assembly).GetReferencedAssemblies().Select(r => r.Name!).ToList();
}
