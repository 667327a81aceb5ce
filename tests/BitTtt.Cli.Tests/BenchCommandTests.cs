using System.Text.Json.Nodes;

namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class BenchCommandTests
{
    [TestMethod]
    public void JsonHasEveryFigureTheIssueAsksFor()
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
}
