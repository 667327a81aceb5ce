using System.Text.Json.Nodes;
using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class BenchCommandTests
{
    [TestMethod]
    public void JsonHasEveryTargetFigureWithItsRatio()
    {
        var r = CliRunner.Run("bench", "--dim", "32", "--layers", "2", "--vocab-size", "300", "--prompt-tokens", "16", "--long-prompt-tokens", "40",
            "--decode-tokens", "8", "--sessions", "4", "--json");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var json = JsonNode.Parse(r.StdOut)!.AsObject();
        Assert.IsGreaterThan(0.0, json["peak_gmacs_one_thread"]!.GetValue<double>());
        foreach (var type in new[] { "reconstruct", "delta" })
        {
            var t = json["ttt_types"]![type]!;
            Assert.IsGreaterThan(0.0, t["decode_tokens_per_s"]!["managed"]!.GetValue<double>(), type);
            Assert.IsGreaterThan(0.0, t["decode_tokens_per_s"]!["managed_fp32_head"]!.GetValue<double>(), type);
            Assert.IsGreaterThan(0.0, t["decode_tokens_per_s"]!["torch"]!.GetValue<double>(), type);
            Assert.IsGreaterThan(0.0, t["prefill_tokens_per_s"]!["16"]!.GetValue<double>(), type);
            Assert.IsGreaterThan(0.0, t["prefill_tokens_per_s"]!["40"]!.GetValue<double>(), type);
            Assert.IsGreaterThan(0.0, t["library"]!["sessions_tokens_per_s"]!.GetValue<double>(), type);
            Assert.IsGreaterThan(0.0, t["time_to_first_token_ms"]!["p95"]!.GetValue<double>(), type);
        }
        var packed = json["packed"]!;
        foreach (var key in new[] { "size_mb", "load_ms", "rss_mb" }) Assert.IsGreaterThan(0.0, packed[key]!.GetValue<double>(), key);
        var targets = json["targets"]!.AsArray();
        Assert.AreEqual(2 * 7 + 3, targets.Count);   // seven per TTT type, three for the packed file
        foreach (var t in targets)
        {
            Assert.IsGreaterThan(0.0, t!["ratio"]!.GetValue<double>(), t.ToJsonString());
            Assert.AreEqual(t["ratio"]!.GetValue<double>() >= 1, t["met"]!.GetValue<bool>(), t.ToJsonString());
        }
        CollectionAssert.AreEqual(new[] { "256x256", "1024x256", "256x1024", "4096x4096" },
            json["gemv"]!.AsArray().Select(g => $"{g!["rows"]}x{g["cols"]}").ToArray());
        Assert.IsGreaterThan(0.0, json["kernels"]!.AsArray().First()!["one_thread_gmacs"]!.GetValue<double>());
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
            var r = CliRunner.Run("bench", "--dim", "32", "--layers", "2", "--vocab-size", "400", "--prompt-tokens", "8", "--long-prompt-tokens", "16",
                "--decode-tokens", "4", "--sessions", "2", "--no-torch", "--json", "--save-model", path);
            Assert.AreEqual(0, r.ExitCode, r.StdErr);
            using var package = ModelPackage.Open(path);
            Assert.AreEqual((32, 2, 400, TttType.Delta), (package.Config.HiddenDim, package.Config.NumLayers, package.Config.VocabSize, package.Config.TttType));
            Assert.IsLessThanOrEqualTo(400, BitLlamaTokenizer.FromJson(package.TokenizerJson!).VocabSize);
            foreach (var expected in RandomModel.Weights(package.Config, seed: 42))
                CollectionAssert.AreEqual(expected.Data.ToArray(), package.Weights.ReadFloat32(expected.Name), expected.Name);

            var again = CliRunner.Run("bench", path, "--prompt-tokens", "8", "--long-prompt-tokens", "16", "--decode-tokens", "4", "--sessions", "2", "--no-torch", "--json");
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
