using System.Text.Json;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// The point of the package split: an app that references only BitTtt.MLNet (this test project does) loads,
/// predicts, saves and generates without TorchSharp. Its .deps.json is the dependency closure the SDK resolved.
/// </summary>
[TestClass]
public sealed class DependencyClosureTests
{
    static readonly string[] Forbidden = ["TorchSharp", "libtorch", "BitTtt.Training", "BitTtt.MLNet.Training"];

    [TestMethod]
    public void PredictOnlyClosure_HasNoTorchSharpNorLibtorch()
    {
        string depsPath = Path.Combine(AppContext.BaseDirectory, "BitTtt.MLNet.Tests.deps.json");
        Assert.IsTrue(File.Exists(depsPath), $"{depsPath} is missing: the closure cannot be checked");
        using var deps = JsonDocument.Parse(File.ReadAllText(depsPath));
        var libraries = deps.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name.Split('/')[0]).ToList();

        // Not vacuous: the closure does hold the predict-side packages.
        CollectionAssert.Contains(libraries, "BitTtt.MLNet");
        CollectionAssert.Contains(libraries, "Microsoft.ML");

        var offending = libraries.Where(l => Forbidden.Any(f => l.Equals(f, StringComparison.OrdinalIgnoreCase)
            || l.StartsWith(f + "-", StringComparison.OrdinalIgnoreCase) || l.StartsWith(f + ".", StringComparison.OrdinalIgnoreCase)
            || l.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase))).ToList();
        Assert.IsEmpty(offending, $"the predict-only closure of BitTtt.MLNet holds {string.Join(", ", offending)} ({depsPath})");
    }

    [TestMethod]
    public void PredictOnlyOutput_CarriesNoTorchBinaries()
    {
        var files = Directory.EnumerateFiles(AppContext.BaseDirectory, "*", SearchOption.AllDirectories)
            .Select(Path.GetFileName)
            .Where(f => f!.Contains("torch", StringComparison.OrdinalIgnoreCase))
            .ToList();
        Assert.IsEmpty(files, $"the predict-only app's output holds {string.Join(", ", files)}");
    }
}
