using System.Text.Json.Nodes;

namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class TokenizerCommandTests
{
    private static string s_dir = null!;
    private static string s_tokenizer = null!;

    [ClassInitialize]
    public static void TrainOnce(TestContext _)
    {
        s_dir = Directory.CreateTempSubdirectory("tokcli").FullName;
        File.WriteAllText(Path.Combine(s_dir, "a.txt"), string.Concat(Enumerable.Repeat("the whale swims in the sea\nthe ship sails on the sea\n", 50)));
        File.WriteAllText(Path.Combine(s_dir, "b.txt"), string.Concat(Enumerable.Repeat("こんにちは、世界 🐋\n", 20)));
        s_tokenizer = Path.Combine(s_dir, "tokenizer.json");
        var r = CliRunner.Run("tokenizer", "train", "--input", Path.Combine(s_dir, "a.txt"), "--input", Path.Combine(s_dir, "b.txt"),
            "--vocab-size", "300", "--output", s_tokenizer);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, "vocab size 300, merges 37");   // 300 − 259 byte and special ids − the 4 reserved chat tokens
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(s_dir, recursive: true);

    [TestMethod]
    public void TrainWritesAByteLevelBpeTokenizerJson()
    {
        var root = JsonNode.Parse(File.ReadAllText(s_tokenizer))!;
        Assert.AreEqual("BPE", (string)root["model"]!["type"]!);
        Assert.AreEqual(300, root["model"]!["vocab"]!.AsObject().Count);
        Assert.AreEqual(300 - 259 - 4, root["model"]!["merges"]!.AsArray().Count);   // the last 4 ids are the reserved chat tokens
    }

    [TestMethod]
    public void EncodeThenDecodeRoundTrips()
    {
        const string text = "the whale  and\tthe 🐋";
        var encoded = CliRunner.Run("tokenizer", "encode", "--tokenizer", s_tokenizer, "--text", text);
        Assert.AreEqual(0, encoded.ExitCode, encoded.StdErr);
        string ids = encoded.StdOut.Trim();
        StringAssert.Matches(ids, new System.Text.RegularExpressions.Regex(@"^\d+(,\d+)*$"));
        var decoded = CliRunner.Run("tokenizer", "decode", "--tokenizer", s_tokenizer, "--ids", ids);
        Assert.AreEqual(0, decoded.ExitCode, decoded.StdErr);
        Assert.AreEqual(text + Environment.NewLine, decoded.StdOut);
    }

    [TestMethod]
    public void EncodeStatsReportsTokensAndThroughput()
    {
        var r = CliRunner.Run("tokenizer", "encode", "--tokenizer", s_tokenizer, "--input", Path.Combine(s_dir, "a.txt"), "--stats");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"^0\.003 MB -> \d+ tokens \([\d.]+ bytes/token\) in [\d.]+ s = [\d.]+ MB/s"));
        var both = CliRunner.Run("tokenizer", "encode", "--tokenizer", s_tokenizer, "--input", Path.Combine(s_dir, "a.txt"), "--text", "x");
        Assert.AreEqual(1, both.ExitCode);
        StringAssert.Contains(both.StdErr, "exactly one of --text TEXT or --input FILE");
    }

    [TestMethod]
    public void Gpt2IsAcceptedAsTokenizer()
    {
        var encoded = CliRunner.Run("tokenizer", "encode", "--tokenizer", "gpt2", "--text", "hello world");
        Assert.AreEqual(0, encoded.ExitCode, encoded.StdErr);
        Assert.AreEqual("31373,995", encoded.StdOut.Trim());
        var decoded = CliRunner.Run("tokenizer", "decode", "--tokenizer", "gpt2", "--ids", "31373, 995");
        Assert.AreEqual("hello world", decoded.StdOut.Trim());
    }

    [TestMethod]
    public void BadIdsFailWithOneLineNamingTheId()
    {
        var outOfRange = CliRunner.Run("tokenizer", "decode", "--tokenizer", s_tokenizer, "--ids", "5,300");
        Assert.AreEqual(1, outOfRange.ExitCode);
        Assert.AreEqual("bit-llama: error: token id 300 is not in the vocabulary (valid ids: 0..299)", outOfRange.StdErr.Trim());
        var notANumber = CliRunner.Run("tokenizer", "decode", "--tokenizer", s_tokenizer, "--ids", "5,abc");
        Assert.AreEqual(1, notANumber.ExitCode);
        StringAssert.Contains(notANumber.StdErr, "'abc' is not an integer token id");
        Assert.AreEqual(1, notANumber.StdErr.Trim().Split('\n').Length);
    }

    [TestMethod]
    public void BadInputsFailWithOneClearLine()
    {
        string empty = Path.Combine(s_dir, "empty.txt");
        File.WriteAllText(empty, "");
        var r = CliRunner.Run("tokenizer", "train", "--input", empty, "--output", Path.Combine(s_dir, "x.json"));
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "empty.txt");
        Assert.IsFalse(File.Exists(Path.Combine(s_dir, "x.json")));

        r = CliRunner.Run("tokenizer", "train", "--input", Path.Combine(s_dir, "a.txt"), "--vocab-size", "100", "--output", Path.Combine(s_dir, "x.json"));
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "--vocab-size 100 is too small");
        Assert.IsFalse(r.StdErr.Contains("(Parameter", StringComparison.Ordinal), "C# parameter name leaks into the CLI line: " + r.StdErr);

        string wordPiece = Path.Combine(s_dir, "wp.json");
        File.WriteAllText(wordPiece, """{"model": {"type": "WordPiece", "vocab": {}}}""");
        r = CliRunner.Run("tokenizer", "encode", "--tokenizer", wordPiece, "--text", "hi");
        Assert.AreEqual(1, r.ExitCode);
        Assert.AreEqual("bit-llama: error: wp.json: model.type 'WordPiece' is not supported (expected 'BPE')", r.StdErr.Trim());

        r = CliRunner.Run("tokenizer", "encode", "--tokenizer", Path.Combine(s_dir, "nope.json"), "--text", "hi");
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "nope.json");
    }
}
