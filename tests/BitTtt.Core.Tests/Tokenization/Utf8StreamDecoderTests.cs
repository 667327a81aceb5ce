using System.Text;
using BitTtt.Tokenization;
using static BitTtt.Core.Tests.Tokenization.TokenizerTestData;

namespace BitTtt.Core.Tests.Tokenization;

[TestClass]
public sealed class Utf8StreamDecoderTests
{
    private static BitLlamaTokenizer s_small = null!;

    [ClassInitialize]
    public static void Train(TestContext _) =>
        s_small = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts(["the whale and the sea, the whale and the ship"], new BpeTrainerOptions { VocabSize = 300 }));

    private static void AssertStreamsWholeCharacters(BitLlamaTokenizer tokenizer, string text)
    {
        var decoder = tokenizer.CreateStreamDecoder();
        var output = new StringBuilder();
        foreach (int id in tokenizer.Encode(text))
        {
            string piece = decoder.Append(id);
            Assert.IsFalse(piece.Contains('\uFFFD'), $"replacement character in piece of: {text}");
            Assert.IsTrue(piece.Length == 0 || !char.IsHighSurrogate(piece[^1]), $"piece ends inside a surrogate pair: {text}");
            Assert.IsTrue(piece.Length == 0 || !char.IsLowSurrogate(piece[0]), $"piece starts inside a surrogate pair: {text}");
            output.Append(piece);
        }
        Assert.AreEqual("", decoder.Flush());
        Assert.AreEqual(text, output.ToString());
    }

    [TestMethod]
    public void NeverSplitsACharacter()
    {
        foreach (string s in HardStrings)
        {
            AssertStreamsWholeCharacters(s_small, s);
            AssertStreamsWholeCharacters(BitLlamaTokenizer.Gpt2(), s);
        }
    }

    [TestMethod]
    public void HoldsAnEmojiUntilItsLastByteToken()
    {
        int[] ids = s_small.Encode("🐋");
        Assert.AreEqual(4, ids.Length);                   // no merges for it: one token per UTF-8 byte
        var decoder = s_small.CreateStreamDecoder();
        Assert.AreEqual("", decoder.Append(ids[0]));
        Assert.AreEqual("", decoder.Append(ids[1]));
        Assert.AreEqual("", decoder.Append(ids[2]));
        Assert.AreEqual("🐋", decoder.Append(ids[3]));
    }

    [TestMethod]
    public void FlushReturnsUnfinishedBytesAsReplacementCharacter()
    {
        int[] ids = s_small.Encode("é🐋");
        var decoder = s_small.CreateStreamDecoder();
        Assert.AreEqual("", decoder.Append(ids[0]));
        Assert.AreEqual("é", decoder.Append(ids[1]));
        Assert.AreEqual("", decoder.Append(ids[2]));
        Assert.AreEqual("\uFFFD", decoder.Flush());
        Assert.AreEqual("", decoder.Flush());
        Assert.AreEqual("", decoder.Append(ids[2]));
        decoder.Reset();
        Assert.AreEqual("a", decoder.Append(s_small.Encode("a")[0]));
    }

    [TestMethod]
    public void InvalidBytesBecomeReplacementCharactersWithoutStalling()
    {
        var decoder = s_small.CreateStreamDecoder();
        int lead = 3 + 0xE3, cont = 3 + 0x81, a = 3 + 'a';
        Assert.AreEqual("", decoder.Append(lead));
        Assert.AreEqual("\uFFFDa", decoder.Append(a));          // a lead byte followed by ASCII
        Assert.AreEqual("\uFFFD", decoder.Append(cont));        // a stray continuation byte
        Assert.AreEqual("<s>", decoder.Append(1));              // specials stream as their text
    }

    [TestMethod]
    public void StreamedTextEqualsDecodeForRandomIdSequences()
    {
        var random = new Random(99);
        foreach (var tokenizer in new[] { s_small, BitLlamaTokenizer.Gpt2() })
        {
            for (int trial = 0; trial < 300; trial++)
            {
                // Mostly byte tokens, so sequences often hold invalid and unfinished UTF-8.
                int[] ids = [.. Enumerable.Range(0, random.Next(0, 12)).Select(_ => random.Next(3) == 0 ? random.Next(tokenizer.VocabSize) : ByteTokenId(tokenizer, random))];
                var decoder = tokenizer.CreateStreamDecoder();
                string streamed = string.Concat(ids.Select(decoder.Append)) + decoder.Flush();
                Assert.AreEqual(tokenizer.Decode(ids), streamed, $"ids: {string.Join(",", ids)}");
            }
        }
    }

    /// <summary>The id of a single-byte token (biased to non-ASCII bytes): 3 + byte for trained vocabularies, looked up for GPT-2.</summary>
    private static int ByteTokenId(BitLlamaTokenizer tokenizer, Random random)
    {
        byte b = (byte)random.Next(0x60, 0x100);
        if (tokenizer.VocabSize < 50000) return 3 + b;
        for (int id = 0; id < 256; id++)
        {
            if (tokenizer.TokenBytes(id) is [var only] && only == b) return id;
        }
        throw new InvalidOperationException($"GPT-2 has no single-byte token for {b:X2}");
    }

    [TestMethod]
    public void AppendRejectsUnknownIds()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => s_small.CreateStreamDecoder().Append(300));
        StringAssert.Contains(e.Message, "token id 300");
    }

    /// <summary>Byte by byte, only an unfinished sequence is held: the text so far is the decoding of the first
    /// <c>Expected</c> bytes, and Flush gives the rest as Encoding.UTF8 decodes it.</summary>
    [TestMethod]
    public void HoldsOnlyUnfinishedSequences()
    {
        (byte[] Bytes, int Expected)[] cases =
        [
            ([], 0), ([0x61], 1), ([0xC3], 0), ([0xC3, 0xA9], 2), ([0x61, 0xE3, 0x81], 1), ([0xE3, 0x81, 0x82], 3),
            ([0xF0, 0x9F, 0x90], 0), ([0xF0, 0x9F, 0x90, 0x8B], 4), ([0x80, 0x80], 2), ([0x61, 0x80, 0x80, 0x80], 4),
            ([0xC0], 1), ([0xFF], 1),
        ];
        foreach (var (bytes, expected) in cases)
        {
            var decoder = s_small.CreateStreamDecoder();
            string emitted = string.Concat(bytes.Select(b => decoder.Append(3 + b)));   // byte b is token 3 + b
            Assert.AreEqual(Encoding.UTF8.GetString(bytes, 0, expected), emitted, Convert.ToHexString(bytes));
            Assert.AreEqual(Encoding.UTF8.GetString(bytes), emitted + decoder.Flush(), Convert.ToHexString(bytes));
        }
    }
}
