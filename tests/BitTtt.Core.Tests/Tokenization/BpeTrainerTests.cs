using System.Text;
using BitTtt.Tokenization;
using static BitTtt.Core.Tests.Tokenization.TokenizerTestData;

namespace BitTtt.Core.Tests.Tokenization;

[TestClass]
public sealed class BpeTrainerTests
{
    private static readonly BpeTrainerOptions Tiny = new() { VocabSize = 262, MinFrequency = 1, ChatTokens = false };

    [TestMethod]
    public void FirstMergesOfAaabAreAAThenAB()
    {
        string json = BpeTrainer.TrainFromTexts(["aaab aaab"], Tiny);
        var merges = Merges(json);
        // (a,a) occurs 4 times (overlapping, both words); then (aa,a) and (a,b) tie at 2 and the smaller ids (a,b) win.
        Assert.AreEqual("a a", merges[0]);
        Assert.AreEqual("a b", merges[1]);
        var vocab = Parse(json)["model"]!["vocab"]!.AsObject();
        Assert.AreEqual(259, (int)vocab["aa"]!);
        Assert.AreEqual(260, (int)vocab["ab"]!);
    }

    [TestMethod]
    public void LeadingSpaceIsPartOfTheWord()
    {
        string json = BpeTrainer.TrainFromTexts(["the the the the"], new BpeTrainerOptions { VocabSize = 300, MinFrequency = 2 });
        var merges = Merges(json).Select(m => m.Split(' ')).Select(p => Ascii(p[0]) + Ascii(p[1])).ToList();
        CollectionAssert.Contains(merges, " the");
        CollectionAssert.DoesNotContain(merges, "the the");
    }

    [TestMethod]
    public void IdsAreSpecialsThenBytesThenMerges()
    {
        string json = BpeTrainer.TrainFromTexts(["hello hello hello"], new BpeTrainerOptions { VocabSize = 300 });
        var root = Parse(json);
        var model = root["model"]!.AsObject();
        Assert.AreEqual("BPE", (string)model["type"]!);
        var vocab = model["vocab"]!.AsObject();
        Assert.AreEqual(0, (int)vocab["<unk>"]!);
        Assert.AreEqual(1, (int)vocab["<s>"]!);
        Assert.AreEqual(2, (int)vocab["</s>"]!);
        Assert.AreEqual(3 + 'a', (int)vocab["a"]!);
        Assert.AreEqual(3 + ' ', (int)vocab["\u0120"]!);  // 'Ġ'
        Assert.AreEqual(3 + '\n', (int)vocab["\u010A"]!); // 'Ċ'
        Assert.AreEqual(3 + 0xFF, (int)vocab["ÿ"]!);
        var added = root["added_tokens"]!.AsArray();
        Assert.AreEqual(3 + ChatFormat.DefaultTokens.Count, added.Count);
        Assert.IsTrue(added.All(t => (bool)t!["special"]!));
        // The chat tokens are the last four ids, after the merges (docs/model.md §6.1).
        int size = vocab.Count;
        CollectionAssert.AreEqual(ChatFormat.DefaultTokens.ToList(), Enumerable.Range(size - 4, 4).Select(id => vocab.First(kv => (int)kv.Value! == id).Key).ToList());
        Assert.AreEqual("ByteLevel", (string)root["pre_tokenizer"]!["type"]!);
        Assert.AreEqual("ByteLevel", (string)root["decoder"]!["type"]!);
        // "hello" x3 and " hello" x2: every merge has frequency >= 2 and the whole word becomes one token.
        var ids = BitLlamaTokenizer.FromJson(json).Encode("hello hello");
        Assert.AreEqual(2, ids.Length);
    }

    [TestMethod]
    public void StopsAtVocabSizeAndAtMinFrequency()
    {
        string text = string.Join(" ", Enumerable.Range(0, 200).Select(i => $"word{i % 37} thing{i % 11}"));
        var capped = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts([text], new BpeTrainerOptions { VocabSize = 270 }));
        Assert.AreEqual(270, capped.VocabSize);
        var all = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts(["abcd abcd xyz"], new BpeTrainerOptions { VocabSize = 4096, MinFrequency = 2 }));
        // Pairs seen twice: a b, b c, c d (one chain -> 3 merges); x y, y z and the space pairs occur once. The 4 chat tokens follow.
        Assert.AreEqual(259 + 3 + 4, all.VocabSize);
        Assert.AreEqual(259 + 3, all.SpecialTokenId("<|system|>"));
        var plain = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts(["abcd abcd xyz"], new BpeTrainerOptions { VocabSize = 4096, ChatTokens = false }));
        Assert.AreEqual(259 + 3, plain.VocabSize);
        Assert.IsNull(plain.SpecialTokenId("<|system|>"));
    }

    [TestMethod]
    public void TrainingIsDeterministic()
    {
        var texts = new[] { "one fish two fish red fish blue fish", "こんにちは 世界 こんにちは", "a\tb\tc\n\n\nd" };
        var options = new BpeTrainerOptions { VocabSize = 320, MinFrequency = 1 };
        string first = BpeTrainer.TrainFromTexts(texts, options);
        string second = BpeTrainer.TrainFromTexts(texts.Reverse(), options);
        Assert.AreEqual(first, second);
    }

    [TestMethod]
    public void StreamedFilesTrainLikeTheWholeTextAtOnce()
    {
        var options = new BpeTrainerOptions { VocabSize = 600 };
        string fromFile = BpeTrainer.TrainFromFiles([MobyDickPath], options);
        string fromText = BpeTrainer.TrainFromTexts([File.ReadAllText(MobyDickPath)], options);
        Assert.AreEqual(fromText, fromFile);
    }

    [TestMethod]
    public void ChunkedWordCountsEqualWholeTextCounts()
    {
        var random = new Random(7);
        string[] pieces = ["a", "b", "é", "🐋", " ", "  ", "\n", "\n\n", "\t", "'s", "'ll", "1", "23", ".", "!?", "\r\n", "\r", " \n", "\u3042", "\u3000", "\u00a0", "\u0301"];
        for (int trial = 0; trial < 200; trial++)
        {
            var sb = new StringBuilder();
            for (int i = 0, n = random.Next(0, 300); i < n; i++) sb.Append(pieces[random.Next(pieces.Length)]);
            string text = sb.ToString();
            var whole = new CorpusWordCounter();
            whole.AddText(text);
            var chunked = new CorpusWordCounter(chunkChars: 1 + random.Next(12));
            chunked.AddReader(new StringReader(text), CancellationToken.None);
            CollectionAssert.AreEquivalent(whole.Counts.ToList(), chunked.Counts.ToList(), $"text: {text}");
        }
    }

    [TestMethod]
    public void TrainsFromSeveralFiles()
    {
        string dir = Directory.CreateTempSubdirectory("bpe").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "a.txt"), "alpha beta alpha\n");
            File.WriteAllText(Path.Combine(dir, "b.txt"), "gamma alpha\n");
            string json = BpeTrainer.TrainFromFiles([Path.Combine(dir, "a.txt"), Path.Combine(dir, "b.txt")], new BpeTrainerOptions { VocabSize = 300 });
            string expected = BpeTrainer.TrainFromTexts(["alpha beta alpha\n", "gamma alpha\n"], new BpeTrainerOptions { VocabSize = 300 });
            Assert.AreEqual(expected, json);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void RejectsTooSmallVocabulary()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => BpeTrainer.TrainFromTexts(["abc"], new BpeTrainerOptions { VocabSize = 258 }));
        StringAssert.Contains(e.Message, "VocabSize 258");
        StringAssert.Contains(e.Message, "at least 263 ids (3 special tokens + 256 byte symbols + 4 chat tokens)");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => BpeTrainer.TrainFromTexts(["abc"], new BpeTrainerOptions { VocabSize = 258, ChatTokens = false }));
        StringAssert.Contains(e.Message, "at least 259 ids (3 special tokens + 256 byte symbols)");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => BpeTrainer.TrainFromTexts(["abc"], new BpeTrainerOptions { MinFrequency = 0 }));
        // The largest vocabulary is the largest tokenizer that loads: nothing is trained that could not be read back.
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => BpeTrainer.TrainFromTexts(["abc"], new BpeTrainerOptions { VocabSize = int.MaxValue }));
        StringAssert.Contains(e.Message, $"VocabSize {int.MaxValue} is too large: at most {BitLlamaLoadLimits.Default.MaxVocabSize} ids");
    }

    [TestMethod]
    public void RejectsEmptyCorpusNamingTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"empty-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, "");
        try
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => BpeTrainer.TrainFromFiles([path], new BpeTrainerOptions()));
            StringAssert.Contains(e.Message, path);
            StringAssert.Contains(e.Message, "no text");
        }
        finally
        {
            File.Delete(path);
        }
        Assert.ThrowsExactly<ArgumentException>(() => BpeTrainer.TrainFromTexts(["", ""], new BpeTrainerOptions()));
        Assert.ThrowsExactly<ArgumentException>(() => BpeTrainer.TrainFromFiles([], new BpeTrainerOptions()));
        var missing = Assert.ThrowsExactly<FileNotFoundException>(() => BpeTrainer.TrainFromFiles(["/no/such/corpus.txt"], new BpeTrainerOptions()));
        StringAssert.Contains(missing.Message, "/no/such/corpus.txt");
    }

    [TestMethod]
    public void CancellationStopsTraining()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(() => BpeTrainer.TrainFromFiles([MobyDickPath], new BpeTrainerOptions(), cts.Token));
    }
}
