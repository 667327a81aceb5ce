using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class EngineTests
{
    public TestContext TestContext { get; set; } = null!;

    // Engine vs ReferenceForward, for both TTT types (shared with DeltaEngineTests). The reference sums in
    // double and in another order (and runs reconstruct TTT in its chunked dual form, the delta recurrence in
    // double); the int8 rounding of the same activations is exact, so results differ only by float rounding:
    // observed max 4e-6 on these seeded models. An int8 rounding flip of one activation would move a logit
    // by ~1e-3 and fail this on purpose.
    internal const float ReferenceTolerance = 1e-4f;

    /// <summary>Largest |a[i] - b[i]|, shared by the engine, delta and kernel tests.</summary>
    internal static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = MathF.Max(m, MathF.Abs(a[i] - b[i]));
        return m;
    }

    [TestMethod]
    [DataRow(1, 32, 2, 0)]
    [DataRow(4, 32, 2, 0)]
    [DataRow(3, 16, 1, 20)]
    [DataRow(16, 64, 3, 100)]
    public void TokenByTokenMatchesTheReferenceForward(int chunk, int dim, int layers, int intermediate)
    {
        var c = TinyModels.Config(dim: dim, layers: layers, chunk: chunk, intermediate: intermediate);
        var w = TinyModels.RandomWeights(c, seed: chunk * 7 + dim);
        var tokens = TinyModels.RandomTokens(21, c.VocabSize, seed: 5);
        var expected = ReferenceForward.Logits(c, w, tokens);
        var state = new SequenceState(TinyModels.Load(c, w));
        var logits = new float[c.VocabSize];
        float worst = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            Forward.Run(state, tokens.AsSpan(t, 1), logits);
            worst = MathF.Max(worst, MaxAbsDiff(expected[t], logits));
        }
        TestContext.WriteLine($"chunk {chunk}, D {dim}: max |managed - reference| = {worst:E2}");
        Assert.IsLessThan(ReferenceTolerance, worst);
        Assert.AreEqual(tokens.Length, state.Position);
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(3)]
    [DataRow(16)]
    public void BatchedPromptGivesTheSameLogitsAsTokenByToken(int chunk)
    {
        var c = TinyModels.Config(chunk: chunk);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, seed: 11));
        var tokens = TinyModels.RandomTokens(SequenceState.MaxBatch + 13, c.VocabSize, seed: 3);
        var one = new SequenceState(weights);
        var stepwise = new float[c.VocabSize];
        foreach (var t in tokens) Forward.Run(one, [t], stepwise);
        var batched = new SequenceState(weights);
        var logits = new float[c.VocabSize];
        Forward.Run(batched, tokens, logits);
        CollectionAssert.AreEqual(stepwise, logits);   // bit-identical: same kernels, same TTT order
        var split = new SequenceState(weights);         // split mid-chunk
        Forward.Run(split, tokens.AsSpan(0, 5), []);
        Forward.Run(split, tokens.AsSpan(5), logits);
        CollectionAssert.AreEqual(stepwise, logits);
        for (int l = 0; l < c.NumLayers; l++)
            CollectionAssert.AreEqual(one.StateW(l).ToArray(), batched.StateW(l).ToArray());
    }

    [TestMethod]
    public void ResetReturnsToTheInitialState()
    {
        var c = TinyModels.Config();
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        var first = new float[c.VocabSize];
        var again = new float[c.VocabSize];
        Forward.Run(s, [1, 2, 3], first);
        Forward.Run(s, [4, 5], again);
        s.Reset();
        Forward.Run(s, [1, 2, 3], again);
        CollectionAssert.AreEqual(first, again);
    }

    [TestMethod]
    [DataRow(61, 64, false)]
    [DataRow(4096, 256, false)]   // LM head above the split threshold: the second half runs on the thread pool
    [DataRow(61, 512, false)]     // 2048×512 GEMVs: above the batch split threshold, below the single-token one
    [DataRow(61, 64, true)]       // delta TTT (conv tails, per-head recurrence)
    [DataRow(4096, 256, true)]
    public void DecodeStepAllocatesNothing(int vocab, int dim, bool delta)
    {
        var c = delta
            ? TinyModels.DeltaConfig(vocab: vocab, dim: dim, layers: 1, heads: 4, conv: 4)
            : TinyModels.Config(vocab: vocab, dim: dim, layers: 1, chunk: 4);
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        var logits = new float[c.VocabSize];
        int[] token = [7];
        for (int i = 0; i < 10; i++) Forward.Run(s, token, logits);   // warm up (JIT, tiered compilation)
        // Best of five rounds: when other tests saturate the thread pool, the LM head's queued half waits in the
        // pool's global queue (the caller runs it itself), and that queue can grow a segment on this thread (seen
        // once in CI: 1,280 bytes). An engine that allocates per step allocates in every round.
        long allocated = long.MaxValue;
        for (int round = 0; round < 5 && allocated != 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++) Forward.Run(s, token, logits);
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Assert.AreEqual(0L, allocated, "bytes allocated by 100 decode steps (fewest of five rounds)");
    }

    /// <summary>
    /// The LM head's ordering rule (SplitGemv): the split partitions rows, never a row's sum, so every logit is
    /// the same whole-row reduction as in the unsplit call, whichever thread runs which half and in whatever
    /// order. Pinned for the fp32 head and the int8 head, on an odd row count above the split threshold.
    /// </summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void SplitLmHeadEqualsTheUnsplitRowsBitForBit(bool int8)
    {
        var rng = new Random(5);
        int rows = 5001, cols = 256;
        Assert.IsGreaterThanOrEqualTo(SplitGemv.SplitThreshold, (long)rows * cols);
        var m = Enumerable.Range(0, rows * cols).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var x = Enumerable.Range(0, cols).Select(_ => (float)rng.NextDouble()).ToArray();
        var q = Int8RowMatrix.Quantize(m, rows, cols);
        var unsplit = new float[rows];
        if (int8) q.Gemv(x, unsplit, 0, rows);
        else for (int r = 0; r < rows; r++) unsplit[r] = System.Numerics.Tensors.TensorPrimitives.Dot(m.AsSpan(r * cols, cols), x);
        if (int8)   // any row partition, later rows first, gives the same rows
            foreach (int cut in new[] { 1, rows / 2, 2500, rows - 1 })
            {
                var parts = new float[rows];
                q.Gemv(x, parts, cut, rows);
                q.Gemv(x, parts, 0, cut);
                CollectionAssert.AreEqual(unsplit, parts, $"cut at {cut}");
            }
        var y = new float[rows];
        var head = int8 ? new SplitGemv(q, x, y) : new SplitGemv(m, x, y);
        for (int i = 0; i < 200; i++)
        {
            Array.Clear(y);
            head.Run();
            CollectionAssert.AreEqual(unsplit, y, $"run {i}");
        }
    }

    /// <summary>The engine reads exactly the tensors of BitLlamaWeights.Expected (the one docs/model.md §2 list), each once, at its shape.</summary>
    [TestMethod]
    [DataRow(false, 4)]
    [DataRow(true, 4)]
    [DataRow(true, 0)]
    public void EngineReadsExactlyTheExpectedWeightList(bool delta, int conv)
    {
        var c = delta ? TinyModels.DeltaConfig(conv: conv) : TinyModels.Config();
        var weights = TinyModels.RandomWeights(c, 3);
        var read = new List<(string Name, long[] Shape)>();
        InferenceWeights.Load(c, (name, shape) =>
        {
            read.Add((name, shape));
            return weights[name];
        });
        var expected = BitLlamaWeights.Expected(c);
        CollectionAssert.AreEquivalent(expected.Select(e => e.Name).ToList(), read.Select(r => r.Name).ToList());
        foreach (var (name, shape, _) in expected)
            CollectionAssert.AreEqual(shape, read.Single(r => r.Name == name).Shape, name);
    }

    [TestMethod]
    public void BadInputIsAClearError()
    {
        var c = TinyModels.Config();
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Forward.Run(s, [1, c.VocabSize], new float[c.VocabSize]));
        StringAssert.Contains(e.Message, $"token id {c.VocabSize} at position 1");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Forward.Run(s, [-1], []));
        Assert.ThrowsExactly<ArgumentException>(() => Forward.Run(s, [], new float[c.VocabSize]));
        Assert.ThrowsExactly<ArgumentException>(() => Forward.Run(s, [1], new float[3]));
        Assert.AreEqual(0, s.Position);
        var tooLong = Assert.ThrowsExactly<ArgumentException>(() => Forward.Run(s, new int[Forward.MaxTokensPerCall + 1], []));
        StringAssert.Contains(tooLong.Message, "exceed the limit");
        var weights = TinyModels.RandomWeights(c, 1);
        weights["layers.1.mlp.up_proj.weight"] = new float[5];
        var bad = Assert.ThrowsExactly<ArgumentException>(() => TinyModels.Load(c, weights));
        StringAssert.Contains(bad.Message, "layers.1.mlp.up_proj.weight");
    }
}
