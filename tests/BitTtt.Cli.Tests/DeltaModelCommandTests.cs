using System.Text.Json.Nodes;
using BitTtt.Inference;

namespace BitTtt.Cli.Tests;

/// <summary>inspect, generate, chat, logits (both engines) and bench on a delta-rule TTT model (docs/model.md §3b).</summary>
[TestClass]
public sealed class DeltaModelCommandTests
{
    static string _dir = null!;
    static string _model = null!;

    [ClassInitialize]
    public static void WriteTinyDeltaModel(TestContext _)
    {
        _dir = Directory.CreateTempSubdirectory("bitttt-cli-delta-").FullName;
        var config = TinyModels.DeltaConfig(vocab: RandomModel.DefaultVocabSize, heads: 2, conv: 3, chunk: 4);
        _model = TinyModels.WriteBitt(Path.Combine(_dir, "delta.bitt"), config);
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void InspectShowsTheTttTypeAndItsFields()
    {
        var r = CliRunner.Run("inspect", _model);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, "ttt: delta (docs/model.md §3b): 2 heads x 16 (F = 32), conv kernel 3");
        StringAssert.Contains(r.StdOut, "ttt_head_dim");
        StringAssert.Contains(r.StdOut, "layers.1.ttt.v_conv.weight");
    }

    [TestMethod]
    public void GenerateAndChatWorkAndKeepTheMemory()
    {
        var r = CliRunner.Run("generate", _model, "--prompt", "the whale", "--max-tokens", "12", "--temperature", "0");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        using var llama = Llama.LoadAuto(_model);
        var greedy = new SamplingOptions { MaxTokens = 6, Temperature = 0 };
        Assert.AreEqual(llama.Complete("the whale", greedy with { MaxTokens = 12 }) + Environment.NewLine, r.StdOut);

        string mem = Path.Combine(_dir, "delta.bttm");
        var chat = GenerateCommandTests.RunWithInput($"the whale\n/save {mem}\nthe sea\n/load {mem}\n/quit\n", "chat", _model, "--max-tokens", "6", "--temperature", "0");
        Assert.AreEqual(0, chat.ExitCode, chat.StdErr);
        using var s = llama.CreateSession();
        string first = s.Complete("the whale\n", greedy);
        string second = s.Complete("the sea\n", greedy);
        string nl = Environment.NewLine;
        StringAssert.StartsWith(chat.StdOut, $"{first}{nl}[memory saved to {mem}]{nl}{second}{nl}[memory loaded from {mem}, ");
    }

    [TestMethod]
    public void ManagedAndTorchLogitsAgree()
    {
        var managed = Logits(CliRunner.Run("logits", _model, "--tokens", "5,17,2,200,40,7", "--fp32-lm-head"));   // the head as docs/model.md writes it
        var torch = Logits(CliRunner.Run("logits", _model, "--tokens", "5,17,2,200,40,7", "--engine", "torch"));
        Assert.AreEqual(6, managed.Length);
        // As in TorchParityTests: float summation order, plus at most an int8 rounding flip.
        for (int t = 0; t < managed.Length; t++)
            for (int v = 0; v < torch[t].Length; v++) Assert.AreEqual(torch[t][v], managed[t][v], 5e-3, $"position {t}, logit {v}");
    }

    static float[][] Logits(CliRunner.Result r)
    {
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        return System.Text.Json.JsonDocument.Parse(r.StdOut).RootElement.GetProperty("logits").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
    }

    [TestMethod]
    public void BenchMeasuresBothTttTypesInOneRun()
    {
        var r = CliRunner.Run("bench", "--dim", "32", "--layers", "2", "--vocab-size", "300", "--prompt-tokens", "16", "--long-prompt-tokens", "24",
            "--decode-tokens", "8", "--sessions", "2", "--ttt-type", "both", "--no-torch", "--json");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var types = JsonNode.Parse(r.StdOut)!["ttt_types"]!;
        foreach (var type in new[] { "reconstruct", "delta" })
        {
            Assert.IsGreaterThan(0.0, types[type]!["prefill_tokens_per_s"]!["16"]!.GetValue<double>(), type);
            Assert.IsGreaterThan(0.0, types[type]!["decode_tokens_per_s"]!["managed"]!.GetValue<double>(), type);
        }
        var delta = CliRunner.Run("bench", "--dim", "32", "--layers", "1", "--vocab-size", "300", "--prompt-tokens", "8", "--long-prompt-tokens", "16",
            "--decode-tokens", "4", "--sessions", "2", "--ttt-type", "delta", "--json");
        Assert.AreEqual(0, delta.ExitCode, delta.StdErr);
        var json = JsonNode.Parse(delta.StdOut)!["ttt_types"]!.AsObject();
        Assert.AreEqual(1, json.Count);
        Assert.AreEqual("delta", json["delta"]!["config"]!["ttt_type"]!.GetValue<string>());
        Assert.IsGreaterThan(0.0, json["delta"]!["decode_tokens_per_s"]!["torch"]!.GetValue<double>());
        var bad = CliRunner.Run("bench", "--ttt-type", "mamba", "--no-torch");
        Assert.AreEqual(1, bad.ExitCode);
        StringAssert.Contains(bad.StdErr, "--ttt-type 'mamba' is not known");
        var withFile = CliRunner.Run("bench", _model, "--ttt-type", "delta", "--no-torch");
        Assert.AreEqual(1, withFile.ExitCode);
        StringAssert.Contains(withFile.StdErr, "--ttt-type applies to the random model");
    }
}
