using BitTtt.Tokenization;
using Microsoft.ML.Tokenizers;
using static BitTtt.Core.Tests.Tokenization.TokenizerTestData;

namespace BitTtt.Core.Tests.Tokenization;

[TestClass]
public sealed class Gpt2TokenizerTests
{
    private static BitLlamaTokenizer s_gpt2 = null!;
    private static BitLlamaTokenizer s_fromJson = null!;

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        s_gpt2 = BitLlamaTokenizer.Gpt2();
        s_fromJson = BitLlamaTokenizer.FromJson(s_gpt2.ToJson());
    }

    [TestMethod]
    public void Gpt2HasItsKnownIds()
    {
        Assert.AreEqual(50257, s_gpt2.VocabSize);
        Assert.AreEqual(50256, s_gpt2.BosId);
        Assert.AreEqual(50256, s_gpt2.EosId);
        Assert.IsNull(s_gpt2.UnkId);
        CollectionAssert.AreEqual(new[] { 31373, 995 }, s_gpt2.Encode("hello world"));
        Assert.IsInstanceOfType<TiktokenTokenizer>(s_gpt2.Inner);
    }

    [TestMethod]
    public void Gpt2RoundTripsHardStrings()
    {
        foreach (string s in HardStrings)
        {
            Assert.AreEqual(s, s_gpt2.Decode(s_gpt2.Encode(s)), $"string: {s}");
            Assert.AreEqual(s, s_fromJson.Decode(s_fromJson.Encode(s)), $"string (from tokenizer.json): {s}");
        }
    }

    [TestMethod]
    public void Gpt2TokenizerJsonEncodesLikeTiktoken()
    {
        Assert.AreEqual(50257, s_fromJson.VocabSize);
        Assert.AreEqual(50256, s_fromJson.EosId);
        Assert.IsInstanceOfType<BpeTokenizer>(s_fromJson.Inner);
        var merges = Merges(s_gpt2.ToJson());
        Assert.AreEqual(50000, merges.Count);           // GPT-2's merges.txt has 50000 merges
        Assert.AreEqual("Ġ t", merges[0]);               // and its first one is "Ġ t"
        string book = File.ReadAllText(MobyDickPath);
        CollectionAssert.AreEqual(s_gpt2.Encode(book), s_fromJson.Encode(book));
        foreach (string s in HardStrings.Append("a<|endoftext|>b"))
        {
            CollectionAssert.AreEqual(s_gpt2.Encode(s), s_fromJson.Encode(s), $"string: {s}");
        }
    }

    [TestMethod]
    public void EndOfTextStaysSpecialAfterLongInputs()
    {
        var gpt2 = BitLlamaTokenizer.Gpt2();
        gpt2.Encode(File.ReadAllText(MobyDickPath));  // fills (and evicts from) the inner tokenizer's cache
        CollectionAssert.AreEqual(new[] { 64, 50256, 65 }, gpt2.Encode("a<|endoftext|>b"));
        Assert.AreEqual("a<|endoftext|>b", gpt2.Decode([64, 50256, 65]));
    }

    [TestMethod]
    public void FromTokenizerWrapsTiktokenGpt2()
    {
        var wrapped = BitLlamaTokenizer.FromTokenizer(TiktokenTokenizer.CreateForModel("gpt2"));
        Assert.AreEqual(50257, wrapped.VocabSize);
        Assert.AreEqual(s_gpt2.ToJson(), wrapped.ToJson());
    }

    [TestMethod]
    public void FromTokenizerWrapsAByteLevelBpeTokenizer()
    {
        var wrapped = BitLlamaTokenizer.FromTokenizer(s_fromJson.Inner);
        Assert.AreEqual(50257, wrapped.VocabSize);
        Assert.AreEqual("こんにちは 🐋", wrapped.Decode(wrapped.Encode("こんにちは 🐋")));
        var decoder = wrapped.CreateStreamDecoder();
        Assert.AreEqual("こんにちは 🐋", string.Concat(wrapped.Encode("こんにちは 🐋").Select(decoder.Append)) + decoder.Flush());
        Assert.ThrowsExactly<NotSupportedException>(() => wrapped.ToJson());
    }

    [TestMethod]
    public void FromTokenizerRejectsUnsupportedTokenizers()
    {
        var vocab = new Dictionary<string, int> { ["a"] = 0, ["b"] = 1, ["ab"] = 2 };
        var notByteLevel = BpeTokenizer.Create(new BpeOptions(vocab) { Merges = ["a b"] });
        var e = Assert.ThrowsExactly<ArgumentException>(() => BitLlamaTokenizer.FromTokenizer(notByteLevel));
        StringAssert.Contains(e.Message, "BpeTokenizer is not supported");

        // A tiktoken encoding that is not GPT-2's: every byte, then "ab".
        string ranks = string.Join("\n", Enumerable.Range(0, 256).Select(b => $"{Convert.ToBase64String([(byte)b])} {b}").Append("YWI= 256"));
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(ranks));
        var tiny = TiktokenTokenizer.Create(stream, PreTokenizer.CreateWordOrNonWord(), normalizer: null);
        e = Assert.ThrowsExactly<ArgumentException>(() => BitLlamaTokenizer.FromTokenizer(tiny));
        StringAssert.Contains(e.Message, "TiktokenTokenizer is not supported");
    }
}
