using System.Diagnostics;
using System.Text.Json.Nodes;
using BitTtt.Formats;
using BitTtt.Tokenization;
using BitTtt.Core.Tests.Formats;

namespace BitTtt.Core.Tests;

/// <summary>Limits, stale temporaries, whole-directory writes and training-text checks (docs/reliability.md).</summary>
[TestClass]
public sealed class HardeningTests
{
    static string s_tokenizer = null!;

    [ClassInitialize]
    public static void TrainOnce(TestContext _) =>
        s_tokenizer = BpeTrainer.TrainFromTexts(["the whale and the sea, 1851: a white whale. "], new BpeTrainerOptions { VocabSize = 280 });

    static string NewDir() => Directory.CreateTempSubdirectory("bitllama-hardening-").FullName;

    static string WithSplit(string pattern)
    {
        var root = JsonNode.Parse(s_tokenizer)!.AsObject();
        root["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false }),
        };
        return root.ToJsonString();
    }

    [TestMethod]
    public void CatastrophicPatternRunsInLinearTime()
    {
        var tok = BitLlamaTokenizer.FromJson(WithSplit("(a+)+$"));
        string text = new string('a', 5000) + "!";
        var clock = Stopwatch.StartNew();
        Assert.AreEqual(text, tok.Decode(tok.Encode(text)));
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(30), "the non-backtracking engine should make this instant");
    }

    [TestMethod]
    public void BacktrackingPatternThatTimesOutIsAFormatError()
    {
        // A lookahead keeps this pattern on the backtracking engine, where it is exponential: the timeout stops it.
        var limits = new BitLlamaLoadLimits { RegexMatchTimeout = TimeSpan.FromMilliseconds(50) };
        var tok = BitLlamaTokenizer.FromJson(WithSplit("(a+)+(?!a)$"), "evil.json", limits);
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => tok.Encode(new string('a', 40) + "!"));
        StringAssert.StartsWith(e.Message, "evil.json: pre_tokenizer Split pattern '(a+)+(?!a)$' took longer than 0.05 s");
    }

    [TestMethod]
    public void SplitRegexesAreSharedPerPatternAndTimeoutAndTheCacheStaysBounded()
    {
        var limits = new BitLlamaLoadLimits();
        var a = SplitRegex.Create("[a-z]+|[^a-z]", "t.json", limits);
        Assert.AreSame(a, SplitRegex.Create("[a-z]+|[^a-z]", "u.json", limits));
        var otherTimeout = new BitLlamaLoadLimits { RegexMatchTimeout = limits.RegexMatchTimeout + TimeSpan.FromSeconds(1) };
        Assert.AreNotSame(a, SplitRegex.Create("[a-z]+|[^a-z]", "t.json", otherTimeout));
        // A stream of distinct patterns (a hostile file each) must not grow the cache without bound, and every
        // regex it returns still matches as its own pattern says.
        for (int i = 0; i < 200; i++)
        {
            var r = SplitRegex.Create($"x{{{i}}}|[^x]", "t.json", limits);
            Assert.AreEqual(i, r.Match(new string('x', i) + "!").Length);
        }
        // (other tests running in parallel may add a few between the capacity check and the add)
        Assert.IsTrue(SplitRegex.CachedCount <= 40, $"the cache holds {SplitRegex.CachedCount} regexes");
    }

    [TestMethod]
    public void VocabularyLimitIsAnOption()
    {
        int n = BitLlamaTokenizer.FromJson(s_tokenizer).VocabSize;
        var small = new BitLlamaLoadLimits { MaxVocabSize = n - 1 };
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaTokenizer.FromJson(s_tokenizer, "t.json", small));
        StringAssert.Contains(e.Message, $"more than {n - 1} entries (BitLlamaLoadLimits.MaxVocabSize)");
        Assert.AreEqual(n, BitLlamaTokenizer.FromJson(s_tokenizer, "t.json", new BitLlamaLoadLimits { MaxVocabSize = n }).VocabSize);
    }

    [TestMethod]
    public void ConfigOverOneMegabyteIsRejectedBeforeParsing()
    {
        string json = $$"""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":0.1,"note":"{{new string('x', 2_000_000)}}"}""";
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaConfig.FromJson(json, "c.json"));
        StringAssert.Contains(e.Message, "more than the 1048576-byte limit");
    }

    [TestMethod]
    public void HugeNumLayersIsReportedAtTheFirstMissingTensor()
    {
        var config = TinyModels.Config(vocab: 8, dim: 8, layers: 1);
        using var dir = new TempDir();
        string path = dir.File("w.safetensors");
        SafeTensorsWriter.WriteFile(path, RandomModel.Weights(config));
        using var reader = SafeTensorsReader.Open(path);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaWeights.Validate(reader, config with { NumLayers = 65536 }));
        StringAssert.Contains(e.Message, "tensor 'layers.1.norm1.weight' is missing");
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before < 100_000, "the expected-tensor list must not be built");
    }

    [TestMethod]
    public void StaleTemporaryOfADeadWriterIsRemovedALiveOneIsKept()
    {
        string dir = NewDir(), target = Path.Combine(dir, "model.bitt");
        using var dead = Process.Start(new ProcessStartInfo("true"))!;
        dead.WaitForExit();
        string stale = Path.Combine(dir, $".model.bitt.{dead.Id}.{Guid.NewGuid():N}.tmp");
        string live = Path.Combine(dir, $".model.bitt.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        string unrelated = Path.Combine(dir, ".model.bitt.notes");
        foreach (var f in new[] { stale, live, unrelated }) File.WriteAllText(f, "x");
        AtomicFile.WriteAllText(target, "new");
        Assert.IsFalse(File.Exists(stale), "a dead writer's temporary remains");
        Assert.IsTrue(File.Exists(live) && File.Exists(unrelated));
        Assert.AreEqual("new", File.ReadAllText(target));
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    public void OldDirectoryOfAWriterKilledBetweenRenamesIsRestored()
    {
        string parent = NewDir(), target = Path.Combine(parent, "model");
        using var dead = Process.Start(new ProcessStartInfo("true"))!;
        dead.WaitForExit();
        string old = Path.Combine(parent, $".model.{dead.Id}.{Guid.NewGuid():N}.old");
        Directory.CreateDirectory(old);
        File.WriteAllText(Path.Combine(old, "config.json"), "{}");
        Assert.AreEqual(1, AtomicFile.RemoveStaleTemporariesIn(parent));
        Assert.IsTrue(File.Exists(Path.Combine(target, "config.json")), "the previous complete version was not moved back");
        Directory.Delete(parent, recursive: true);
    }

    [TestMethod]
    public void DirectoryIsReplacedAsAWholeOrNotAtAll()
    {
        string parent = NewDir(), target = Path.Combine(parent, "model");
        AtomicDirectory.Write(target, d => File.WriteAllText(Path.Combine(d, "a"), "1"));
        AtomicDirectory.Write(target, d => File.WriteAllText(Path.Combine(d, "b"), "2"));
        CollectionAssert.AreEqual(new[] { "b" }, Directory.GetFiles(target).Select(Path.GetFileName).ToArray());
        Assert.ThrowsExactly<IOException>(() => AtomicDirectory.Write(target, d =>
        {
            File.WriteAllText(Path.Combine(d, "c"), "half");
            throw new IOException("disk full");
        }));
        CollectionAssert.AreEqual(new[] { "b" }, Directory.GetFiles(target).Select(Path.GetFileName).ToArray());
        CollectionAssert.AreEqual(new[] { "model" }, Directory.GetFileSystemEntries(parent).Select(Path.GetFileName).ToArray());
        Directory.Delete(parent, recursive: true);
    }

    [TestMethod]
    public void TrainingTextMustBeARegularNonEmptyFile()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("uses /dev/zero and mkfifo");
        var e = Assert.ThrowsExactly<ArgumentException>(() => TrainingText.Open("/dev/zero").Dispose());
        StringAssert.Contains(e.Message, "not a regular file");
        string dir = NewDir(), fifo = Path.Combine(dir, "pipe");
        Process.Start("mkfifo", [fifo])!.WaitForExit();
        e = Assert.ThrowsExactly<ArgumentException>(() => TrainingText.Open(fifo).Dispose());   // must not block on the pipe
        StringAssert.Contains(e.Message, "not a regular file");
        Directory.Delete(dir, recursive: true);
    }
}
