using System.Text.Json.Nodes;
using BitTtt.Formats;

namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class BenchCommandTests
{
    [TestMethod]
    public void JsonHasEveryFigureOfTheReport()
    {
        var r = CliRunner.Run("bench", "--dim", "32", "--layers", "2", "--vocab-size", "300", "--prompt-tokens", "16", "--decode-tokens", "8", "--json");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var json = JsonNode.Parse(r.StdOut)!.AsObject();
        Assert.IsGreaterThan(0.0, json["decode_tokens_per_s"]!["managed"]!.GetValue<double>());
        Assert.IsGreaterThan(0.0, json["decode_tokens_per_s"]!["torch"]!.GetValue<double>());
        Assert.IsGreaterThan(0.0, json["decode_tokens_per_s"]!["managed_int8_head"]!.GetValue<double>());
        Assert.IsGreaterThan(0.0, json["prefill_tokens_per_s"]!["managed"]!.GetValue<double>());
        Assert.IsGreaterThan(0.0, json["prefill_tokens_per_s"]!["torch"]!.GetValue<double>());
        Assert.IsGreaterThan(0.0, json["load_ms"]!.GetValue<double>());
        Assert.IsGreaterThan(0.0, json["rss_mb"]!.GetValue<double>());
        var gemv = json["gemv"]!.AsArray();
        CollectionAssert.AreEqual(new[] { "256x256", "1024x256", "256x1024", "4096x4096" },
            gemv.Select(g => $"{g!["rows"]}x{g["cols"]}").ToArray());
        foreach (var g in gemv)
        {
            Assert.IsGreaterThan(0.0, g!["ternary_gmacs"]!.GetValue<double>());
            Assert.IsGreaterThan(0.0, g["fp32_gmacs"]!.GetValue<double>());
            Assert.IsGreaterThan(0.0, g["torch_gmacs"]!.GetValue<double>());
        }
    }

    [TestMethod]
    public void BadShapeIsAOneLineError()
    {
        var r = CliRunner.Run("bench", "--dim", "30", "--no-torch");
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "hidden_dim");
        var layers = CliRunner.Run("bench", "--layers", "0", "--no-torch");
        Assert.AreEqual(1, layers.ExitCode, layers.StdErr);
        StringAssert.Contains(layers.StdErr, "the random model (--dim, --layers, --vocab-size): num_layers must be positive");
    }

    [TestMethod]
    public void SaveModelWritesTheRandomModelItMeasured()
    {
        string dir = Directory.CreateTempSubdirectory("bitttt-bench-").FullName;
        try
        {
            string path = Path.Combine(dir, "random.bitt");
            var r = CliRunner.Run("bench", "--dim", "32", "--layers", "2", "--vocab-size", "400", "--prompt-tokens", "8", "--decode-tokens", "4",
                "--no-torch", "--json", "--save-model", path);
            Assert.AreEqual(0, r.ExitCode, r.StdErr);
            using var package = ModelPackage.Open(path);
            Assert.AreEqual((32, 2, 400), (package.Config.HiddenDim, package.Config.NumLayers, package.Config.VocabSize));
            Assert.AreEqual(RandomModel.DefaultTokenizerJson, package.TokenizerJson);
            foreach (var expected in RandomModel.Weights(package.Config, seed: 42))
                CollectionAssert.AreEqual(expected.Data.ToArray(), package.Weights.ReadFloat32(expected.Name), expected.Name);

            var again = CliRunner.Run("bench", path, "--prompt-tokens", "8", "--decode-tokens", "4", "--no-torch", "--json");
            Assert.AreEqual(0, again.ExitCode, again.StdErr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    [DataRow("--vocab-size 100 --save-model m.bitt", "--save-model needs --vocab-size 300 or more")]
    [DataRow("m.bitt --save-model other.bitt", "--save-model writes the random model; a model file is measured as it is")]
    public void SaveModelMisuseIsAOneLineError(string arguments, string message)
    {
        var r = CliRunner.Run(["bench", "--no-torch", .. arguments.Split(' ')]);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, message);
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
    }
}
