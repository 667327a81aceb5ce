using System.Text;
using BitTtt.Tokenization;
using BitTtt.Training;
using static BitTtt.Cli.Tests.TrainCommandTests;

namespace BitTtt.Cli.Tests;

/// <summary>
/// What <c>bit-llama train</c> does with the texts, the output directory and values it cannot honour: each case
/// either works as documented or ends with one line, before any work it would waste and without harming earlier files.
/// </summary>
[TestClass]
public sealed class TrainInputTests
{
    string _dir = "";

    [TestInitialize]
    public void CreateDirectory() => _dir = TempDir();

    [TestCleanup]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    /// <summary>The tiny settings with some values changed (a flag given twice is a parse error).</summary>
    static string[] TinyWith(string flag, string value)
    {
        var args = Tiny.ToArray();
        args[Array.IndexOf(args, flag) + 1] = value;
        return args;
    }

    static CliRunner.Result TrainWith(string text, string output, string[] tiny, params string[] extra) =>
        CliRunner.Run(["train", "--data", text, "--output", output, .. tiny, .. extra]);

    static void AssertOneErrorLine(CliRunner.Result r, string expected)
    {
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        Assert.AreEqual($"bit-llama: error: {expected}", r.StdErr.Trim());
    }

    [TestMethod]
    public void AVocabularyLargerThanAnyLoadableTokenizerIsRejectedBeforeAnyWork()
    {
        string output = Path.Combine(_dir, "out");
        var r = TrainWith(WriteText(_dir, 100), output, TinyWith("--vocab-size", "2147483647"), "--steps", "1");
        AssertOneErrorLine(r, $"--vocab-size 2147483647 is too large: at most {BpeTrainerOptions.MaxVocabSize} ids (BitLlamaLoadLimits.MaxVocabSize, the largest tokenizer that loads)");
        Assert.IsFalse(Directory.Exists(output));
    }

    [TestMethod]
    public void AVocabularyTheTextCannotFillIsSaidNotHidden()
    {
        string output = Path.Combine(_dir, "out");
        var r = TrainWith(WriteText(_dir, 100), output, TinyWith("--vocab-size", "5000"), "--steps", "1");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var said = System.Text.RegularExpressions.Regex.Match(r.StdErr,
            @"bit-llama: the text gives only (\d+) tokens, not 5000 \(--vocab-size\): no further pair occurs 2 times or more; the model's vocab_size is \1\n");
        Assert.IsTrue(said.Success, r.StdErr);
        Assert.AreEqual(int.Parse(said.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), BitLlamaConfig.Load(Path.Combine(output, "config.json")).VocabSize);
    }

    [TestMethod]
    public void AContextLengthBeyondTheModelLimitFailsBeforeTheTextIsRead()
    {
        string output = Path.Combine(_dir, "out");
        var r = TrainWith(WriteText(_dir, 100), output, TinyWith("--context-len", "100000000"), "--steps", "1");
        AssertOneErrorLine(r, $"--context-len must be at most {BitLlamaConfig.MaxContextLen}, got 100000000.");
        Assert.IsFalse(Directory.Exists(output), "nothing is tokenized or written");
    }

    [TestMethod]
    public void LibraryMessagesNameTheFlagsTheUserTyped()
    {
        var r = TrainWith(WriteText(_dir, 100), Path.Combine(_dir, "out"), TinyWith("--lr", "0.5"), "--steps", "1", "--min-lr", "1");
        AssertOneErrorLine(r, "--min-lr must be between 0 and --lr (0.5), got 1.");
    }

    [TestMethod]
    public void AFinishedRunIsNotReplacedWithoutResumeOrForce()
    {
        string text = WriteText(_dir, 100), output = Path.Combine(_dir, "out");
        Assert.AreEqual(0, Train(text, output, "--steps", "2").ExitCode);
        byte[] model = File.ReadAllBytes(Path.Combine(output, "model.bitt")), checkpoint = File.ReadAllBytes(Path.Combine(output, "checkpoint.safetensors"));

        var again = Train(text, output, "--steps", "2", "--ttt-conv", "2");
        AssertOneErrorLine(again, $"{output} holds an earlier run (checkpoint.safetensors); --resume continues it, --force starts over and replaces it, or choose another --output");
        CollectionAssert.AreEqual(model, File.ReadAllBytes(Path.Combine(output, "model.bitt")));
        CollectionAssert.AreEqual(checkpoint, File.ReadAllBytes(Path.Combine(output, "checkpoint.safetensors")));

        AssertOneErrorLine(Train(text, output, "--steps", "2", "--resume", "--force"),
            "--resume continues the run in --output and --force replaces it: give one of them");

        var forced = Train(text, output, "--steps", "2", "--ttt-conv", "2", "--force");
        Assert.AreEqual(0, forced.ExitCode, forced.StdErr);
        Assert.AreEqual(2, BitLlamaConfig.Load(Path.Combine(output, "config.json")).TttConv);
    }

    [TestMethod]
    public void TrainRejectsABinaryFileWithTheLineEvalPrints()
    {
        var rng = new Random(3);
        var bytes = new byte[20_000];
        rng.NextBytes(bytes);
        string binary = Path.Combine(_dir, "random.bin");
        File.WriteAllBytes(binary, bytes);
        string model = Path.Combine(_dir, "model");
        Assert.AreEqual(0, Train(WriteText(_dir, 100), model, "--steps", "1").ExitCode);

        var train = Train(binary, Path.Combine(_dir, "out"), "--steps", "1");
        var eval = CliRunner.Run("eval", Path.Combine(model, "model.bitt"), "--data", binary);
        Assert.AreEqual(1, train.ExitCode, train.StdErr);
        Assert.AreEqual(1, eval.ExitCode, eval.StdErr);
        string line = eval.StdErr.Trim();
        StringAssert.StartsWith(line, $"bit-llama: error: {binary}: ");
        Assert.AreEqual(line, train.StdErr.Trim().Split('\n')[^1], "train and eval apply one rule to the same file");

        // Invalid UTF-8 without a NUL byte (Latin-1 text) is refused the same way, at its offset.
        string latin1 = Path.Combine(_dir, "latin1.txt");
        File.WriteAllBytes(latin1, [.. "the whale "u8, 0xE9, .. " ahab\n"u8]);
        train = Train(latin1, Path.Combine(_dir, "out"), "--steps", "1");
        Assert.AreEqual(1, train.ExitCode, train.StdErr);
        StringAssert.EndsWith(train.StdErr.Trim(), $"{latin1}: invalid UTF-8 at byte offset 10; expected UTF-8 text (a binary file, or another encoding?)");
    }

    [TestMethod]
    public void SeveralFilesAndDirectoriesAreReadAsOneTextInTheOrderGiven()
    {
        string corpus = Path.Combine(_dir, "corpus"), sub = Path.Combine(corpus, "sub"), hidden = Path.Combine(corpus, ".cache");
        Directory.CreateDirectory(sub);
        Directory.CreateDirectory(hidden);
        string Lines(string word, int n) => string.Concat(Enumerable.Range(0, n).Select(i => $"{word} {i} the whale and the sea.\n"));
        File.WriteAllText(Path.Combine(corpus, "b.txt"), Lines("bravo", 40));
        File.WriteAllText(Path.Combine(corpus, "a.TXT"), Lines("alpha", 40));
        File.WriteAllText(Path.Combine(sub, "c.txt"), Lines("charlie", 40));
        File.WriteAllText(Path.Combine(corpus, "notes.md"), Lines("markdown", 40));
        File.WriteAllText(Path.Combine(corpus, ".hidden.txt"), Lines("hidden", 40));
        File.WriteAllText(Path.Combine(hidden, "d.txt"), Lines("cached", 40));
        string last = Path.Combine(_dir, "last.txt");
        File.WriteAllText(last, Lines("zulu", 40));
        string tokenizer = Path.Combine(_dir, "tokenizer.json");
        Assert.AreEqual(0, CliRunner.Run("tokenizer", "train", "--input", corpus, "--input", last, "--vocab-size", "300", "--output", tokenizer).ExitCode);

        string output = Path.Combine(_dir, "out");
        var r = CliRunner.Run(["train", "--data", last, "--data", corpus, "--output", output, "--tokenizer", tokenizer, .. Tiny[2..], "--steps", "1"]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var tok = BitLlamaTokenizer.Load(tokenizer);
        using var train = TokenFile.Open(Path.Combine(output, "tokens.bin"));
        using var validation = TokenFile.Open(Path.Combine(output, "val.bin"));
        string read = tok.Decode(train.ReadAll()) + tok.Decode(validation.ReadAll());
        Assert.AreEqual(Lines("zulu", 40) + Lines("alpha", 40) + Lines("bravo", 40) + Lines("charlie", 40), read,
            "the files in the order given, a directory's *.txt files in path order, hidden ones and other extensions left out");
        StringAssert.StartsWith(tok.Decode(validation.ReadAll()), "charlie ", "the validation part is the end of the last file");

        AssertOneErrorLine(Train(Path.Combine(_dir, "missing"), Path.Combine(_dir, "x"), "--steps", "1"),
            $"{Path.Combine(_dir, "missing")}: training text not found (neither a file nor a directory)");
        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        AssertOneErrorLine(Train(Path.Combine(_dir, "empty"), Path.Combine(_dir, "x"), "--steps", "1"),
            $"{Path.Combine(_dir, "empty")}: the directory holds no .txt file to train on");
    }

    [TestMethod]
    public void ADivergedRunEndsNonZeroAndKeepsTheLastGoodCheckpoint()
    {
        string text = WriteText(_dir), output = Path.Combine(_dir, "out");
        var first = Train(text, output, "--steps", "30", "--stop-after-steps", "3");
        Assert.AreEqual(0, first.ExitCode, first.StdErr);
        byte[] checkpoint = File.ReadAllBytes(Path.Combine(output, "checkpoint.safetensors")), model = File.ReadAllBytes(Path.Combine(output, "model.bitt"));

        // A learning rate of 100 blows the loss up within steps; the run stops at the first step past the line
        // (twice ln V, or the unigram baseline when that is higher) and saves nothing.
        var diverged = TrainWith(text, output, TinyWith("--lr", "100"), "--steps", "30", "--resume");
        Assert.AreEqual(1, diverged.ExitCode, diverged.StdErr);
        string line = diverged.StdErr.Trim().Split('\n')[^1];
        StringAssert.Matches(line, new System.Text.RegularExpressions.Regex(
            @"^bit-llama: error: training diverged: the training loss at step \d+ is [\d.]+ nats/token, more than twice the 5\.704 of a uniform guess over 300 tokens; stopped without saving the weights\. " +
            $"The last good checkpoint is {System.Text.RegularExpressions.Regex.Escape(Path.Combine(output, "checkpoint.safetensors"))} \\(step 3\\)\\. Try a lower --lr or --inner-lr\\.$"));
        CollectionAssert.AreEqual(checkpoint, File.ReadAllBytes(Path.Combine(output, "checkpoint.safetensors")));
        CollectionAssert.AreEqual(model, File.ReadAllBytes(Path.Combine(output, "model.bitt")), "the model of the good run is kept");
        Assert.IsFalse(diverged.StdOut.Contains("model:", StringComparison.Ordinal), diverged.StdOut);

        var fresh = TrainWith(text, Path.Combine(_dir, "fresh"), TinyWith("--lr", "100"), "--steps", "30");
        Assert.AreEqual(1, fresh.ExitCode, fresh.StdErr);
        StringAssert.Contains(fresh.StdErr, "No checkpoint was written. Try a lower --lr or --inner-lr.");
        Assert.IsFalse(File.Exists(Path.Combine(_dir, "fresh", "model.bitt")));
    }

    [TestMethod]
    public void TrainHelpListsEveryFlagOfTheTableWithItsDefault()
    {
        var r = CliRunner.Run("train", "--help");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var help = r.StdOut.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("--", StringComparison.Ordinal))
            .ToDictionary(l => l.Split(' ')[0]);
        foreach (var row in Commands.TrainFlags.All)
        {
            Assert.IsTrue(help.TryGetValue(row.Flag, out string? line), $"{row.Flag} ({row.Property}) is missing from train --help");
            StringAssert.Contains(line, row.Description);
        }
        Assert.AreEqual(Commands.TrainFlags.All.Count, help.Count, "train --help lists exactly the rows of the table");
        // Defaults come from TrainingDefaults and BpeTrainerOptions, written once there.
        StringAssert.EndsWith(help["--lr"], $"[default: {TrainingDefaults.LearningRate}]");
        StringAssert.EndsWith(help["--context-len"], $"[default: {TrainingDefaults.ContextLen}]");
        StringAssert.EndsWith(help["--vocab-size"], $"[default: {BpeTrainerOptions.DefaultVocabSize}]");
        StringAssert.EndsWith(help["--ttt-type"], "[default: delta]");
        StringAssert.EndsWith(help["--seed"], $"[default: {TrainingDefaults.Seed}]");
    }
}
