using BitTtt.Formats;

namespace BitTtt.Cli.Tests;

/// <summary>Hostile files and inputs give one clear line from the CLI, never raw control characters or a hang.</summary>
[TestClass]
public sealed class HostileInputCliTests
{
    static string NewDir() => Directory.CreateTempSubdirectory("bitttt-hostile-").FullName;

    [TestMethod]
    public void InspectEscapesControlCharactersInTensorNamesAndMetadata()
    {
        string dir = NewDir(), path = Path.Combine(dir, "evil.safetensors");
        SafeTensorsWriter.WriteFile(path, [new SafeTensorData("\u001b[2J\u001b]0;pwned\u0007name", [1], new float[] { 1f })],
            new Dictionary<string, string> { ["note\u001b[31m"] = "red\u009b1m" });
        var r = CliRunner.Run("inspect", path);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.IsFalse(r.StdOut.Contains('\u001b') || r.StdOut.Contains('\u0007') || r.StdOut.Contains('\u009b'), r.StdOut);
        StringAssert.Contains(r.StdOut, "\\u001B[2J");
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    public void ErrorLinesEscapeControlCharactersFromTheFile()
    {
        string dir = NewDir(), model = Path.Combine(dir, "m");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "config.json"), "{\"vocab_size\":5,\"hidden_dim\":8,\"num_layers\":1,\"inner_lr\":0.1,\"ttt_type\":\"\\u001b[2Jx\"}");
        var r = CliRunner.Run("inspect", model);
        Assert.AreEqual(1, r.ExitCode);
        Assert.IsFalse(r.StdErr.Contains('\u001b'), r.StdErr);
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
        StringAssert.StartsWith(r.StdErr, "bit-llama: error: config.json: field 'ttt_type'");
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    public void GenerateWithAHostileTokenizerIsOneLine()
    {
        string dir = NewDir(), model = Path.Combine(dir, "m");
        Directory.CreateDirectory(model);
        // A tokenizer whose last token has id 2e9: rejected at load, before any table is sized by it.
        var config = new BitLlamaConfig { VocabSize = 300, HiddenDim = 8, NumLayers = 1, InnerLr = 0.1f };
        config.Save(Path.Combine(model, "config.json"));
        SafeTensorsWriter.WriteFile(Path.Combine(model, "model.safetensors"), RandomModel.Weights(config));
        File.WriteAllText(Path.Combine(model, "tokenizer.json"),
            RandomModel.DefaultTokenizerJson.Replace("\"</s>\": 2", "\"</s>\": 2000000000", StringComparison.Ordinal));
        var r = CliRunner.Run("generate", model, "--prompt", "the", "--max-tokens", "2");
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
        // Names the file the entry is in (tokenizer.json, not the model directory) and the JSON path of the entry.
        StringAssert.Contains(r.StdErr, "bit-llama: error: tokenizer.json: model.vocab['</s>']: expected an integer id in [0, 1048576), found 2000000000");
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    public void TrainOnADeviceIsRejectedNotReadForever()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("uses /dev/zero");
        string dir = NewDir();
        var r = CliRunner.Run("train", "--data", "/dev/zero", "--output", Path.Combine(dir, "out"), "--dim", "16", "--layers", "1", "--steps", "1");
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "/dev/zero: no text to train on: the file is empty, or not a regular file");
        Directory.Delete(dir, recursive: true);
    }
}
