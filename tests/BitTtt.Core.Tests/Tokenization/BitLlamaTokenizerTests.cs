using System.Text.Json.Nodes;
using BitTtt.Tokenization;
using Microsoft.ML.Tokenizers;
using static BitTtt.Core.Tests.Tokenization.TokenizerTestData;

namespace BitTtt.Core.Tests.Tokenization;

[TestClass]
public sealed class BitLlamaTokenizerTests
{
    private static string s_json = null!;
    private static BitLlamaTokenizer s_moby = null!;

    [ClassInitialize]
    public static void TrainOnce(TestContext _)
    {
        s_json = BpeTrainer.TrainFromFiles([MobyDickPath], new BpeTrainerOptions { VocabSize = 1024 });
        s_moby = BitLlamaTokenizer.FromJson(s_json);
    }

    [TestMethod]
    public void TrainedTokenizerHasTheRequestedShape()
    {
        Assert.AreEqual(1024, s_moby.VocabSize);
        Assert.AreEqual(0, s_moby.UnkId);
        Assert.AreEqual(1, s_moby.BosId);
        Assert.AreEqual(2, s_moby.EosId);
        Assert.IsInstanceOfType<BpeTokenizer>(s_moby.Inner);
        Assert.AreEqual(1024 - 259 - 4, Merges(s_json).Count);   // the last 4 ids are the chat tokens
    }

    [TestMethod]
    public void RoundTripsTheWholeBook()
    {
        string text = File.ReadAllText(MobyDickPath);
        int[] ids = s_moby.Encode(text);
        Assert.IsTrue(ids.Length < text.Length / 2, $"{ids.Length} tokens for {text.Length} chars: merges are not applied");
        Assert.IsTrue(ids.All(id => id >= 3 && id < 1024));
        Assert.AreEqual(text, s_moby.Decode(ids));
    }

    [TestMethod]
    public void RoundTripsHardStrings()
    {
        foreach (string s in HardStrings)
        {
            Assert.AreEqual(s, s_moby.Decode(s_moby.Encode(s)), $"string: {s}");
        }
    }

    [TestMethod]
    public void SpecialTokensInTextEncodeToTheirIds()
    {
        int[] ids = s_moby.Encode("<s>Call me Ishmael.</s>");
        Assert.AreEqual(1, ids[0]);
        Assert.AreEqual(2, ids[^1]);
        Assert.AreEqual("<s>Call me Ishmael.</s>", s_moby.Decode(ids));
    }

    [TestMethod]
    public void ManySpecialTokensEncodeLikeSeparateDocuments()
    {
        var docs = File.ReadAllText(MobyDickPath).Split("\n\n").Take(3000).ToArray();
        string joined = string.Concat(docs.Select(d => "<s>" + d + "</s>"));
        int[] ids = s_moby.Encode(joined);
        var expected = docs.SelectMany(d => new[] { 1 }.Concat(s_moby.Encode(d)).Append(2)).ToArray();
        CollectionAssert.AreEqual(expected, ids);
        Assert.AreEqual(joined, s_moby.Decode(ids));
    }

    [TestMethod]
    public void ToJsonLoadsBackToTheSameTokenizer()
    {
        Assert.AreEqual(s_json, s_moby.ToJson());
        var again = BitLlamaTokenizer.FromJson(s_moby.ToJson());
        string sample = File.ReadAllText(MobyDickPath)[..20000];
        CollectionAssert.AreEqual(s_moby.Encode(sample), again.Encode(sample));
    }

    [TestMethod]
    public void LoadReadsAFileAndNamesItInErrors()
    {
        string dir = Directory.CreateTempSubdirectory("tok").FullName;
        try
        {
            string good = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(good, s_json);
            CollectionAssert.AreEqual(s_moby.Encode("the whale"), BitLlamaTokenizer.Load(good).Encode("the whale"));
            string bad = Path.Combine(dir, "broken.json");
            File.WriteAllText(bad, "{ not json");
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaTokenizer.Load(bad));
            StringAssert.StartsWith(e.Message, "broken.json: invalid JSON tokenizer.json");
            Assert.ThrowsExactly<FileNotFoundException>(() => BitLlamaTokenizer.Load(Path.Combine(dir, "missing.json")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void DecodeRejectsUnknownIdsNamingThem()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => s_moby.Decode([5, 1024]));
        StringAssert.Contains(e.Message, "token id 1024");
        e = Assert.ThrowsExactly<ArgumentException>(() => s_moby.Decode([-1]));
        StringAssert.Contains(e.Message, "token id -1");
    }

    private static string Mutate(Action<JsonObject> change)
    {
        var root = Parse(s_json);
        change(root);
        return root.ToJsonString();
    }

    [TestMethod]
    public void RejectsUnsupportedModelType()
    {
        foreach (string type in new[] { "WordPiece", "Unigram" })
        {
            // The model type is checked first, so a WordPiece file is reported as such, not for its pre-tokenizer.
            string json = Mutate(r => { r["model"]!["type"] = type; r["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" }; });
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaTokenizer.FromJson(json));
            Assert.AreEqual($"tokenizer.json: model.type '{type}' is not supported (expected 'BPE')", e.Message);
        }
    }

    [TestMethod]
    public void RejectsMissingFieldsNamingThem()
    {
        (string Json, string Field)[] cases =
        [
            (Mutate(r => r.Remove("model")), "'model'"),
            (Mutate(r => r["model"]!.AsObject().Remove("vocab")), "'model.vocab'"),
            (Mutate(r => r["model"]!.AsObject().Remove("merges")), "'model.merges'"),
            (Mutate(r => r["model"]!["vocab"] = new JsonArray()), "model.vocab"),
            (Mutate(r => r["model"]!["vocab"]!["a"] = "x"), "model.vocab['a']"),
            ("[1, 2]", "expected a JSON object"),
        ];
        foreach (var (json, field) in cases)
        {
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaTokenizer.FromJson(json, "my.json"));
            StringAssert.StartsWith(e.Message, "my.json: ");
            StringAssert.Contains(e.Message, field);
        }
    }

    [TestMethod]
    public void RejectsMalformedMerges()
    {
        (JsonNode Merge, string Expected)[] cases =
        [
            (JsonValue.Create("abc")!, "model.merges[0]: expected \"left right\""),
            (JsonValue.Create("a  b")!, "model.merges[0]: expected \"left right\""),
            (JsonValue.Create("a b c")!, "model.merges[0]: expected \"left right\""),
            (new JsonArray("a"), "model.merges[0]: expected \"left right\""),
            (JsonValue.Create(7)!, "model.merges[0]: expected \"left right\""),
            (JsonValue.Create("a \u4e00")!, "model.merges[0]: token '\u4e00' is not in model.vocab"),
        ];
        foreach (var (merge, expected) in cases)
        {
            string json = Mutate(r => r["model"]!["merges"]!.AsArray().Insert(0, merge));
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaTokenizer.FromJson(json));
            StringAssert.Contains(e.Message, expected);
        }
        // The newer ["left", "right"] form is accepted.
        string pairs = Mutate(r =>
        {
            var merges = r["model"]!["merges"]!.AsArray();
            var asPairs = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m!.GetValue<string>().Split(' ').Select(p => (JsonNode)JsonValue.Create(p)!).ToArray())).ToArray());
            r["model"]!["merges"] = asPairs;
        });
        CollectionAssert.AreEqual(s_moby.Encode("the whale"), BitLlamaTokenizer.FromJson(pairs).Encode("the whale"));
    }

    private static JsonObject SplitThenByteLevel(string regex, string behavior = "Isolated") => new()
    {
        ["type"] = "Sequence",
        ["pretokenizers"] = new JsonArray(
            new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = regex }, ["behavior"] = behavior, ["invert"] = false },
            new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
    };

    [TestMethod]
    public void SplitPreTokenizerPatternIsUsedAndKept()
    {
        // GPT-2's pattern with single letters: merges can no longer join letters.
        string pattern = ByteLevel.SplitPattern.Replace(@" ?\p{L}+", @"\p{L}");
        var letters = BitLlamaTokenizer.FromJson(Mutate(r => r["pre_tokenizer"] = SplitThenByteLevel(pattern)));
        Assert.IsTrue(s_moby.Encode("whale").Length < 5, "the book's merges join letters");
        Assert.AreEqual(5, letters.Encode("whale").Length);
        CollectionAssert.AreEqual(s_moby.Encode("1851, 23 ... !?"), letters.Encode("1851, 23 ... !?"));
        var again = BitLlamaTokenizer.FromJson(letters.ToJson());
        CollectionAssert.AreEqual(letters.Encode("In 1851, the whales."), again.Encode("In 1851, the whales."));
        foreach (string s in HardStrings) Assert.AreEqual(s, letters.Decode(letters.Encode(s)), s);
    }

    [TestMethod]
    public void SplitPatternThatLeavesGapsStillRoundTrips()
    {
        var lettersOnly = BitLlamaTokenizer.FromJson(Mutate(r => r["pre_tokenizer"] = SplitThenByteLevel(@"\p{L}+")));
        foreach (string s in HardStrings) Assert.AreEqual(s, lettersOnly.Decode(lettersOnly.Encode(s)), s);
    }

    [TestMethod]
    public void RejectsUnsupportedPreTokenizerSettings()
    {
        (Action<JsonObject> Change, string Expected)[] cases =
        [
            (r => r.Remove("pre_tokenizer"), "field 'pre_tokenizer' is missing"),
            (r => r["pre_tokenizer"]!["use_regex"] = false, "use_regex=false needs a Split"),
            (r => r["pre_tokenizer"]!["add_prefix_space"] = true, "add_prefix_space=true is not supported"),
            (r => r["pre_tokenizer"] = SplitThenByteLevel("\\s", "Removed"), "Split behavior 'Removed' is not supported"),
            (r => r["pre_tokenizer"] = SplitThenByteLevel("(unclosed"), "Split pattern '(unclosed' is not a .NET regular expression"),
            (r => r["model"]!["ignore_merges"] = true, "model.ignore_merges=true is not supported"),
            (r => r["model"]!["byte_fallback"] = true, "model.byte_fallback=true is not supported"),
            (r => r["model"]!["continuing_subword_prefix"] = "##", "model.continuing_subword_prefix '##' is not supported"),
        ];
        foreach (var (change, expected) in cases)
        {
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => BitLlamaTokenizer.FromJson(Mutate(change)));
            StringAssert.Contains(e.Message, expected);
        }
    }

    [TestMethod]
    public void RejectsNonByteLevelVocabularyAndPreTokenizers()
    {
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() =>
            BitLlamaTokenizer.FromJson(Mutate(r => r["model"]!["vocab"]!["word with space"] = 5000)));
        StringAssert.Contains(e.Message, "byte-level alphabet");
        e = Assert.ThrowsExactly<BitLlamaFormatException>(() =>
            BitLlamaTokenizer.FromJson(Mutate(r => r["pre_tokenizer"] = new JsonObject { ["type"] = "Whitespace" })));
        StringAssert.Contains(e.Message, "pre_tokenizer [Whitespace] is not supported");
        e = Assert.ThrowsExactly<BitLlamaFormatException>(() =>
            BitLlamaTokenizer.FromJson(Mutate(r => r["normalizer"] = new JsonObject { ["type"] = "NFC" })));
        StringAssert.Contains(e.Message, "normalizer 'NFC' is not supported");
    }
}
