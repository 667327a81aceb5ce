using BitTtt.Formats;

namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class InspectCommandTests
{
    const string Tokenizer = """{"version":"1.0","model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"added_tokens":[{"id":0,"content":"a"}]}""";

    static readonly BitLlamaConfig Config = new() { VocabSize = 20, HiddenDim = 8, NumLayers = 2, InnerLr = 0.1f, TttChunk = 4 };

    static string _dir = null!;

    [ClassInitialize]
    public static void Setup(TestContext _) => _dir = Directory.CreateTempSubdirectory("bitttt-inspect-").FullName;

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    static List<SafeTensorData> Weights() => RandomModel.Weights(Config);

    // V*D*2 + N*(2D + 2*d*D + 3*I*D) + D = 320 + 2*(16 + 32 + 768) + 8
    const long Parameters = 20 * 8 * 2 + 2 * (2 * 8 + 2 * 2 * 8 + 3 * 32 * 8) + 8;

    [TestMethod]
    public void ShowsConfigAndTensorsOfABittFile()
    {
        string path = Path.Combine(_dir, "tiny.bitt");
        ModelPackage.WriteBitt(path, Config, Tokenizer, Weights());
        var r = CliRunner.Run("inspect", path);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, ".bitt file");
        StringAssert.Contains(r.StdOut, "hidden_dim");
        StringAssert.Contains(r.StdOut, "ttt_chunk");
        StringAssert.Contains(r.StdOut, "BPE, 3 vocab entries, 1 added tokens");
        StringAssert.Contains(r.StdOut, "layers.1.mlp.down_proj.weight");
        StringAssert.Contains(r.StdOut, "[8, 32]");
        StringAssert.Contains(r.StdOut, $"total: 17 tensors, {Parameters:N0} parameters, {Parameters * 4:N0} bytes");
        StringAssert.Contains(r.StdOut, $"ternary (BitLinear): {2 * (2 * 2 * 8 + 3 * 32 * 8):N0} parameters");
    }

    [TestMethod]
    public void ShowsAModelDirectoryAndABareSafetensorsFile()
    {
        string model = Path.Combine(_dir, "model");
        ModelPackage.WriteDirectory(model, Config, Tokenizer, Weights());
        var r = CliRunner.Run("inspect", model);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, "model directory");
        StringAssert.Contains(r.StdOut, "lm_head.weight");

        var bare = CliRunner.Run("inspect", Path.Combine(model, "model.safetensors"));
        Assert.AreEqual(0, bare.ExitCode, bare.StdErr);
        StringAssert.Contains(bare.StdOut, "safetensors file");
        StringAssert.Contains(bare.StdOut, "norm_f.weight");
        Assert.IsFalse(bare.StdOut.Contains("hidden_dim", StringComparison.Ordinal));
        StringAssert.Contains(bare.StdOut, $"total: 17 tensors, {Parameters:N0} parameters");
    }

    [TestMethod]
    public void ABrokenFileIsOneReadableLineAndExitCode1()
    {
        string path = Path.Combine(_dir, "cut.bitt");
        ModelPackage.WriteBitt(path, Config, Tokenizer, Weights());
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);
        var r = CliRunner.Run("inspect", path);
        Assert.AreEqual(1, r.ExitCode);
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
        StringAssert.Contains(r.StdErr, "cut.bitt: safetensors body at byte");
        StringAssert.Contains(r.StdErr, "tensor 'lm_head.weight'");

        File.WriteAllBytes(path, [.. "GGUF"u8, .. bytes[4..]]);
        r = CliRunner.Run("inspect", path);
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "cut.bitt: not a .bitt file: expected magic 'BITT', found 'GGUF'");

        var missing = CliRunner.Run("inspect", Path.Combine(_dir, "nothing-here"));
        Assert.AreEqual(1, missing.ExitCode);
        StringAssert.Contains(missing.StdErr, "nothing-here");
    }
}
