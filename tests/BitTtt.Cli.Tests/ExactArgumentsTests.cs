using static BitTtt.Cli.Tests.TrainCommandTests;

namespace BitTtt.Cli.Tests;

/// <summary>
/// Token id lists and export paths are taken as given: an empty id is not skipped, an empty list is not "no ids",
/// a missing checkpoint is not reported as a missing tokenizer, and a write error names the file asked for.
/// </summary>
[TestClass]
public sealed class ExactArgumentsTests
{
    static void AssertOneErrorLine(CliRunner.Result r, string expected, int exitCode = 1)
    {
        Assert.AreEqual(exitCode, r.ExitCode, r.StdErr);
        Assert.AreEqual($"bit-llama: error: {expected}", r.StdErr.Trim());
    }

    [TestMethod]
    [DataRow("1,,2", "'1,,2' has an empty entry at position 2")]
    [DataRow("1,2,", "'1,2,' has an empty entry at position 3")]
    [DataRow(",1", "',1' has an empty entry at position 1")]
    public void LogitsRefusesAnEmptyTokenId(string tokens, string problem) =>
        // The ids are read before the model is opened: the model path is never reached.
        AssertOneErrorLine(CliRunner.Run("logits", "no-model.bitt", "--tokens", tokens), $"--tokens: {problem}; give comma-separated ids, e.g. --tokens 1,2,3");

    [TestMethod]
    [DataRow("")]
    [DataRow("  ")]
    public void DecodeOfNoIdsIsAnError(string ids) =>
        AssertOneErrorLine(CliRunner.Run("tokenizer", "decode", "--tokenizer", "gpt2", "--ids", ids), "--ids: give at least one token id, e.g. --ids 1,2,3");

    [TestMethod]
    public void DecodeRefusesAnEmptyIdAsLogitsDoes() =>
        AssertOneErrorLine(CliRunner.Run("tokenizer", "decode", "--tokenizer", "gpt2", "--ids", "31373,,995"),
            "--ids: '31373,,995' has an empty entry at position 2; give comma-separated ids, e.g. --ids 1,2,3");

    [TestMethod]
    public void ExportOfAMissingCheckpointSaysTheCheckpointIsMissing()
    {
        string dir = TempDir();
        try
        {
            string missing = Path.Combine(dir, "runs", "x", "checkpoint.safetensors");
            AssertOneErrorLine(CliRunner.Run("export", missing, "--output", Path.Combine(dir, "x.bitt")),
                $"{missing}: checkpoint not found (give a checkpoint.safetensors, or the training output directory that holds one)");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void ExportIntoAFolderThatCannotBeWrittenNamesTheFileAskedFor()
    {
        string dir = TempDir();
        try
        {
            string run = Path.Combine(dir, "run");
            Assert.AreEqual(0, Train(WriteText(dir, 100), run, "--steps", "1").ExitCode);

            // Under a regular file no folder can be made (for root too, unlike chmod).
            string blocker = Path.Combine(dir, "a-file");
            File.WriteAllText(blocker, "x");
            string under = Path.Combine(blocker, "x.bitt");
            var r = CliRunner.Run("export", run, "--output", under);
            Assert.AreEqual(2, r.ExitCode, r.StdErr);
            StringAssert.StartsWith(r.StdErr.Trim(), $"bit-llama: error: {under}: cannot write the file (cannot create the folder {blocker}: ");
            Assert.IsFalse(r.StdErr.Contains(".tmp", StringComparison.Ordinal), r.StdErr);

            // A folder that takes no new files: the temporary file cannot be created there, and the error says so about x.bitt.
            if (OperatingSystem.IsLinux())
                AssertOneErrorLine(CliRunner.Run("export", run, "--output", "/proc/x.bitt"), "/proc/x.bitt: cannot write the file (/proc does not take new files)", 2);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
