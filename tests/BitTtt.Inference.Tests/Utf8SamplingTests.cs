using System.Buffers;
using System.Text;
using System.Text.Unicode;
using BitTtt.Inference;
using BitTtt.Inference.Sampling;
using BitTtt.Tokenization;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class Utf8SamplingTests
{
    /// <summary>Reference: bytes are a prefix of some valid UTF-8 string (.NET's strict decoder, not at the end of input).</summary>
    static bool ValidPrefix(byte[] bytes)
    {
        var chars = new char[bytes.Length + 1];
        var status = Utf8.ToUtf16(bytes, chars, out _, out _, replaceInvalidSequences: false, isFinalBlock: false);
        return status is OperationStatus.Done or OperationStatus.NeedMoreData;
    }

    // Tokens of 1-3 bytes drawn mostly from the interesting ranges: ASCII, continuations, every lead byte kind.
    static byte[][] RandomVocab(Random r, int size)
    {
        byte[] pool = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF];
        return Enumerable.Range(0, size).Select(_ => Enumerable.Range(0, 1 + r.Next(3)).Select(_ => pool[r.Next(pool.Length)]).ToArray()).ToArray();
    }

    [TestMethod]
    public void TableAgreesWithTheStrictDecoderOnRandomTokenWalks()
    {
        var r = new Random(17);
        var vocab = RandomVocab(r, 97);
        var table = Utf8TokenTable.Build(vocab);
        for (int walk = 0; walk < 200; walk++)
        {
            var text = new List<byte>();
            byte state = Utf8TokenTable.Ready;
            for (int step = 0; step < 12; step++)
            {
                int t = r.Next(vocab.Length);
                bool expected = ValidPrefix([.. text, .. vocab[t]]);
                Assert.AreEqual(expected, table.Allows(state, t), $"after [{Convert.ToHexString(text.ToArray())}] token [{Convert.ToHexString(vocab[t])}]");
                if (!expected) continue;
                state = table.After(state, t);
                text.AddRange(vocab[t]);
            }
            Assert.AreEqual(state == Utf8TokenTable.Ready, Utf8.IsValid(text.ToArray()), Convert.ToHexString(text.ToArray()));
        }
    }

    [TestMethod]
    public void EveryModeEmitsValidUtf8EvenWhenTheLogitsFavourBrokenBytes()
    {
        // 0 "a", 1 lead of é (C3), 2 its continuation (A9), 3 a stray continuation (80), 4 "b", 5 E2 82 (2/3 of €), 6 AC (the rest)
        byte[][] vocab = [[0x61], [0xC3], [0xA9], [0x80], [0x62], [0xE2, 0x82], [0xAC]];
        var table = Utf8TokenTable.Build(vocab);
        var modes = new[]
        {
            SamplingOptions.Greedy(),
            new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 1f, RepetitionPenalty = 1f, Seed = 1 },
            new SamplingOptions { Temperature = 0.7f, TopK = 3, TopP = 1f, Seed = 2 },
            new SamplingOptions { Temperature = 1.3f, TopK = 0, TopP = 0.5f, Seed = 3 },
        };
        var r = new Random(4);
        foreach (var options in modes)
        {
            var sampler = new Sampler(options, vocab.Length, table);
            var bytes = new List<byte>();
            for (int step = 0; step < 300; step++)
            {
                // The broken choices (stray continuations, or a lead byte right after a lead) get the highest logits.
                float[] logits = [.. Enumerable.Range(0, vocab.Length).Select(_ => (float)r.NextDouble())];
                logits[3] += 5;
                logits[6] += 4;
                if (step % 2 == 1) { logits[0] += 8; logits[5] += 6; }
                int t = sampler.Sample(logits, []);
                bytes.AddRange(vocab[t]);
                Assert.IsTrue(ValidPrefix([.. bytes]), $"temperature {options.Temperature}: [{Convert.ToHexString(bytes.ToArray())}] is not valid UTF-8");
            }
            string text = Encoding.UTF8.GetString([.. bytes]);
            Assert.IsFalse(text.TrimEnd('\uFFFD').Contains('\uFFFD'), text);
        }
        // Without the table the same logits do produce broken bytes: the test can fail.
        var plain = new Sampler(SamplingOptions.Greedy(), vocab.Length);
        Assert.AreEqual(3, plain.Sample([0, 0, 0, 5, 0, 0, 0], []));
    }

    [TestMethod]
    public void AVocabularyWithoutTheNeededBytesIsNotMaskedIntoADeadEnd()
    {
        // Only "a" and the lead byte C3: after C3 no token can complete the character.
        var sampler = new Sampler(SamplingOptions.Greedy(), 2, Utf8TokenTable.Build([[0x61], [0xC3]]));
        Assert.AreEqual(1, sampler.Sample([0f, 1f], []));
        Assert.AreEqual(1, sampler.Sample([0f, 1f], []), "nothing may follow: the logits decide, unmasked");
        Assert.AreEqual(1, sampler.Sample([0f, 1f], []));
        Assert.AreEqual(0, sampler.Sample([1f, 0f], []));
    }

    [TestMethod]
    public void ValidTextIsUnaffected()
    {
        var tok = BitLlamaTokenizer.Gpt2();
        var table = tok.Utf8Table;
        string text = "Call me Ishmael. naïve café — 日本語のテキスト 😀🐋 Ωμέγα, ĳ and \t tabs\n";
        byte state = Utf8TokenTable.Ready;
        foreach (int id in tok.Encode(text))
        {
            Assert.IsTrue(table.Allows(state, id), $"token {id} of the tokenizer's own encoding was masked");
            state = table.After(state, id);
        }
        Assert.AreEqual(Utf8TokenTable.Ready, state);

        // With logits that favour valid tokens, sampling with and without the mask picks the same tokens.
        var r = new Random(9);
        var masked = new Sampler(new SamplingOptions { Temperature = 0.9f, TopK = 50, Seed = 5 }, tok.VocabSize, table);
        var plain = new Sampler(new SamplingOptions { Temperature = 0.9f, TopK = 50, Seed = 5 }, tok.VocabSize);
        int[] ascii = [.. Enumerable.Range(0, tok.VocabSize).Where(i => tok.GetTokenBytes(i).ToArray().All(b => b < 0x80)).Take(400)];
        for (int step = 0; step < 50; step++)
        {
            var logits = new float[tok.VocabSize];
            foreach (int i in ascii) logits[i] = 10 + (float)r.NextDouble();
            Assert.AreEqual(plain.Sample(logits, []), masked.Sample(logits, []));
        }
    }
}
