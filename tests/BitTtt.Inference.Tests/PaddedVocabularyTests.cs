using BitTtt.Formats;
using BitTtt.Inference;

namespace BitTtt.Inference.Tests;

/// <summary>
/// A model whose vocab_size is larger than its tokenizer's (the Llama constructor allows it: e.g. the seed
/// config's 16384 rows with a smaller tokenizer, or a vocabulary padded for alignment). The rows past the
/// tokenizer have no text, so generation must never pick them.
/// </summary>
[TestClass]
public sealed class PaddedVocabularyTests
{
    const int Padding = 64;

    [TestMethod]
    public void PaddedRowsAreNeverSampled_TheTextIsThatOfTheUnpaddedModel()
    {
        var tokenizer = TinyLlama.Tokenizer();
        var c = TinyLlama.Config();
        var tensors = TinyLlama.Tensors(c, 2);
        var padded = c with { VocabSize = c.VocabSize + Padding };
        using var plain = Llama.FromWeights(c, tokenizer, tensors);
        using var wide = Llama.FromWeights(padded, tokenizer, tensors.Select(t => Pad(t, c.HiddenDim)).ToList());

        var options = new[]
        {
            SamplingOptions.Greedy(40),
            new SamplingOptions { MaxTokens = 40, Temperature = 1.5f, TopK = 0, TopP = 1, Seed = 3 },
            new SamplingOptions { MaxTokens = 40, Temperature = 0.9f, TopK = 20, TopP = 0.9f, Seed = 4 },
        };
        foreach (var o in options)
            Assert.AreEqual(plain.CreateSession().Complete("the whale", o), wide.CreateSession().Complete("the whale", o), o.ToString());
    }

    /// <summary>Extra rows for embed and lm_head; the lm_head ones are large, so any sampler that looks at them picks them.</summary>
    static SafeTensorData Pad(SafeTensorData t, int dim)
    {
        if (t.Name is not ("embed.weight" or "lm_head.weight")) return t;
        var data = new float[t.Data.Length + Padding * dim];
        t.Data.Span.CopyTo(data);
        for (int i = t.Data.Length; i < data.Length; i++) data[i] = t.Name == "lm_head.weight" ? 10f : 0.5f;
        return new SafeTensorData(t.Name, [t.Shape[0] + Padding, t.Shape[1]], data);
    }
}
