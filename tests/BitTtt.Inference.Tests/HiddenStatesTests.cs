using BitTtt.Formats;
using BitTtt.Tests.Shared;

namespace BitTtt.Inference.Tests;

/// <summary>
/// <see cref="LlamaSession.HiddenStates"/>: each token's rmsnorm(h, norm_f), the LM head's input, as the slow reference
/// forward computes it, independent of how the tokens are split across calls, and advancing the memory like
/// <see cref="LlamaSession.Logits"/>.
/// </summary>
[TestClass]
public sealed class HiddenStatesTests
{
    public static IEnumerable<object[]> Cases() =>
    [
        TttCases.Row(TinyLlama.Config(dim: 16, chunk: 3), 3),
        // RandomModel's weights; seeds 4 and 10 land an int8 rounding flip (a near-tie the double reference rounds the
        // other way) somewhere in the 71 tokens, ~4e-3, which EngineTests.ReferenceTolerance fails on purpose.
        TttCases.Row(TinyModels.DeltaConfig(vocab: TinyLlama.Tokenizer().VocabSize, dim: 36, heads: 3, headDim: 13, conv: 4), 5),
    ];

    static Llama Create(BitLlamaConfig c, Dictionary<string, float[]> w) =>
        Llama.FromWeights(c, TinyLlama.Tokenizer(), BitLlamaWeights.Expected(c).Select(s => new SafeTensorData(s.Name, s.Shape, w[s.Name])).ToList());

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void HiddenStatesMatchTheReferenceForward(BitLlamaConfig c, int seed)
    {
        var w = TinyModels.RandomWeights(c, seed);
        using var llama = Create(c, w);
        var tokens = TinyModels.RandomTokens(71, c.VocabSize, seed);   // 64 + 7: crosses an engine chunk boundary
        var expected = ReferenceForward.FinalHidden(c, w, tokens);
        using var session = llama.CreateSession();
        float[] hidden = session.HiddenStates(tokens);
        Assert.HasCount(tokens.Length * c.HiddenDim, hidden);
        float worst = 0;
        for (int t = 0; t < tokens.Length; t++)
            for (int j = 0; j < c.HiddenDim; j++)
                worst = MathF.Max(worst, MathF.Abs(expected[t][j] - hidden[t * c.HiddenDim + j]));
        Assert.IsLessThan(EngineTests.ReferenceTolerance, worst, $"{TttCases.Name(c)}: max |managed - reference| = {worst:E2}");
        Assert.AreEqual(tokens.Length, session.Position);
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void SplittingTheTokensChangesNothingAndTheMemoryAdvancesAsWithLogits(BitLlamaConfig c, int seed)
    {
        using var llama = Create(c, TinyModels.RandomWeights(c, seed));
        var tokens = TinyModels.RandomTokens(45, c.VocabSize, seed + 1);
        using var whole = llama.CreateSession();
        float[] once = whole.HiddenStates(tokens);
        using var pieces = llama.CreateSession();
        float[] split = [.. pieces.HiddenStates(tokens.AsSpan(0, 1)), .. pieces.HiddenStates(tokens.AsSpan(1, 33)), .. pieces.HiddenStates(tokens.AsSpan(34))];
        CollectionAssert.AreEqual(once, split, TttCases.Name(c));

        // The next token's logits after HiddenStates are those after feeding the same tokens through Logits.
        using var viaLogits = llama.CreateSession();
        viaLogits.Logits(tokens);
        int next = tokens[0];
        CollectionAssert.AreEqual(viaLogits.Logits([next]), whole.Logits([next]), TttCases.Name(c));
    }

    [TestMethod]
    public void NoTokensIsAnArgumentError()
    {
        using var llama = TinyLlama.Create();
        using var session = llama.CreateSession();
        var e = Assert.ThrowsExactly<ArgumentException>(() => session.HiddenStates([]));
        Assert.AreEqual("tokens", e.ParamName);
    }
}
