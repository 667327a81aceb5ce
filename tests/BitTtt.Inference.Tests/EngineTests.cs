using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Inference.Kernels;
using BitTtt.Tests.Shared;

namespace BitTtt.Inference.Tests;

/// <summary>
/// The managed engine (docs/model.md §3) for both TTT layers, reconstruct (§3a) and delta (§3b): every property is
/// one test run for each type, and each case's name starts with the type and shape it ran on.
/// </summary>
[TestClass]
public sealed class EngineTests
{
    public TestContext TestContext { get; set; } = null!;

    // Engine vs ReferenceForward. The reference sums in double and in another order (and runs reconstruct TTT in
    // its chunked dual form, the delta recurrence in double); the int8 rounding of the same activations is exact,
    // so results differ only by float rounding: observed max 4e-6 on these seeded models. An int8 rounding flip of
    // one activation would move a logit by ~1e-3 and fail this on purpose.
    internal const float ReferenceTolerance = 1e-4f;

    /// <summary>Largest |a[i] - b[i]|, shared by the engine and kernel tests.</summary>
    internal static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = MathF.Max(m, MathF.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>The tiny model a per-type test runs on when the shape does not matter.</summary>
    static BitLlamaConfig Model(TttType type, int vocab = 61, int dim = 32, int layers = 2) => type == TttType.Delta
        ? TinyModels.DeltaConfig(vocab: vocab, dim: dim, layers: layers, heads: 2, conv: 4)
        : TinyModels.Config(vocab: vocab, dim: dim, layers: layers, chunk: 4);

    /// <summary>Every array of layer <paramref name="layer"/>'s TTT state: W and G (reconstruct) or S and the conv tails (delta).</summary>
    static float[][] StateOf(SequenceState s, int layer) => s.Weights.Config.TttType == TttType.Delta
        ? [s.StateS(layer).ToArray(), s.StateConvTail(layer).ToArray()]
        : [s.StateW(layer).ToArray(), s.StateG(layer).ToArray()];

    static void AssertSameState(SequenceState expected, SequenceState actual, string what)
    {
        for (int l = 0; l < expected.Weights.Config.NumLayers; l++)
        {
            var (e, a) = (StateOf(expected, l), StateOf(actual, l));
            for (int i = 0; i < e.Length; i++) CollectionAssert.AreEqual(e[i], a[i], $"{what}: TTT state array {i} of layer {l}");
        }
        Assert.AreEqual(expected.Position, actual.Position, what);
    }

    public static IEnumerable<object[]> ReferenceCases() =>
    [
        TttCases.Row(TinyModels.Config(dim: 32, layers: 2, chunk: 1), 39),
        TttCases.Row(TinyModels.Config(dim: 32, layers: 2, chunk: 4), 60),
        TttCases.Row(TinyModels.Config(dim: 16, layers: 1, chunk: 3, intermediate: 20), 37),
        TttCases.Row(TinyModels.Config(dim: 64, layers: 3, chunk: 16, intermediate: 100), 176),
        TttCases.Row(TinyModels.DeltaConfig(dim: 32, layers: 2, heads: 1, headDim: 16, conv: 0), 47),    // one head, no convolution
        TttCases.Row(TinyModels.DeltaConfig(dim: 32, layers: 2, heads: 2, headDim: 7, conv: 1), 70),     // odd head width, a 1-tap conv (no tail)
        TttCases.Row(TinyModels.DeltaConfig(dim: 16, layers: 1, heads: 3, headDim: 5, conv: 4), 102),    // F = 15 < D
        TttCases.Row(TinyModels.DeltaConfig(dim: 36, layers: 2, heads: 3, headDim: 13, conv: 4), 110),   // F = 39 > D
        TttCases.Row(TinyModels.DeltaConfig(dim: 64, layers: 1, heads: 2, headDim: 0, conv: 3), 65),     // head width defaults to D / H = 32
    ];

    [TestMethod]
    [DynamicData(nameof(ReferenceCases))]
    public void TokenByTokenMatchesTheReferenceForward(BitLlamaConfig c, int seed)
    {
        var w = TinyModels.RandomWeights(c, seed);
        var tokens = TinyModels.RandomTokens(23, c.VocabSize, seed: 5);
        var expected = ReferenceForward.Logits(c, w, tokens);
        var state = new SequenceState(TinyModels.Load(c, w));
        var logits = new float[c.VocabSize];
        float worst = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            Forward.Run(state, tokens.AsSpan(t, 1), logits);
            worst = MathF.Max(worst, MaxAbsDiff(expected[t], logits));
        }
        float scale = expected.SelectMany(r => r).Max(MathF.Abs);
        TestContext.WriteLine($"{TttCases.Name(c)}: max |managed - reference| = {worst:E2} (max |logit| {scale:F2})");
        Assert.IsLessThan(ReferenceTolerance, worst, TttCases.Name(c));
        Assert.AreEqual(tokens.Length, state.Position);
        Assert.IsTrue(StateOf(state, 0).Any(a => a.Any(x => x != 0)), $"{TttCases.Name(c)}: the TTT state stayed zero");
    }

    public static IEnumerable<object[]> BatchingCases() =>
    [
        TttCases.Row(TinyModels.Config(chunk: 1), 11),
        TttCases.Row(TinyModels.Config(chunk: 3), 11),
        TttCases.Row(TinyModels.Config(chunk: 16), 11),
        TttCases.Row(TinyModels.DeltaConfig(heads: 3, headDim: 9, conv: 0), 11),
        TttCases.Row(TinyModels.DeltaConfig(heads: 3, headDim: 9, conv: 1), 12),
        TttCases.Row(TinyModels.DeltaConfig(heads: 3, headDim: 9, conv: 4), 15),
    ];

    /// <summary>
    /// A prompt fed at once (in batches of <see cref="SequenceState.MaxBatch"/>), token by token, or split anywhere
    /// (mid-chunk, inside the conv tail, across batches) gives bit-identical logits and TTT state.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(BatchingCases))]
    public void BatchedPromptAndAnySplitGiveTheSameLogitsAsTokenByToken(BitLlamaConfig c, int seed)
    {
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, seed));
        var tokens = TinyModels.RandomTokens(SequenceState.MaxBatch + 13, c.VocabSize, seed: 3);
        var one = new SequenceState(weights);
        var stepwise = new float[c.VocabSize];
        foreach (var t in tokens) Forward.Run(one, [t], stepwise);
        var batched = new SequenceState(weights);
        var logits = new float[c.VocabSize];
        Forward.Run(batched, tokens, logits);
        CollectionAssert.AreEqual(stepwise, logits, $"{TttCases.Name(c)}: batched");   // bit-identical: same kernels, same token order
        AssertSameState(one, batched, $"{TttCases.Name(c)}: batched");
        var rng = new Random(seed);
        for (int trial = 0; trial < 6; trial++)
        {
            var split = new SequenceState(weights);
            var cuts = Enumerable.Range(0, 3).Select(_ => rng.Next(1, tokens.Length)).Append(1).Append(2).Append(5).Distinct().Order().ToList();
            int start = 0;
            foreach (int cut in cuts.Append(tokens.Length))
            {
                Forward.Run(split, tokens.AsSpan(start, cut - start), cut == tokens.Length ? logits : []);
                start = cut;
            }
            string at = $"{TttCases.Name(c)}: split at {string.Join(",", cuts)}";
            CollectionAssert.AreEqual(stepwise, logits, at);
            AssertSameState(one, split, at);
        }
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void ResetReturnsToTheInitialState(TttType type)
    {
        var c = Model(type);
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        var first = new float[c.VocabSize];
        var again = new float[c.VocabSize];
        Forward.Run(s, [1, 2, 3], first);
        Forward.Run(s, [4, 5], again);
        Assert.IsTrue(StateOf(s, 1).All(a => a.Any(x => x != 0)), $"{type}: a state array stayed zero");
        s.Reset();
        Assert.IsTrue(StateOf(s, 1).All(a => a.All(x => x == 0)), $"{type}: Reset left state behind");
        Assert.AreEqual(0, s.Position);
        Forward.Run(s, [1, 2, 3], again);
        CollectionAssert.AreEqual(first, again, type.ToString());
    }

    /// <summary>A TTT model carries context: the last token's logits depend on the tokens before it (for delta without
    /// a convolution, so it is the state S that carries it).</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void TheLastTokensLogitsDependOnTheTokensBeforeIt(TttType type)
    {
        var c = type == TttType.Delta ? TinyModels.DeltaConfig(conv: 0) : Model(type);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 2));
        var a = new float[c.VocabSize];
        var b = new float[c.VocabSize];
        Forward.Run(new SequenceState(weights), [3, 9, 4, 7], a);
        Forward.Run(new SequenceState(weights), [8, 1, 5, 7], b);
        TestContext.WriteLine($"{TttCases.Name(c)}: max |a - b| = {MaxAbsDiff(a, b):E2}");
        Assert.IsGreaterThan(1e-3f, MaxAbsDiff(a, b), type.ToString());
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct, 61, 64)]
    [DataRow(TttType.Reconstruct, 4096, 256)]   // LM head above the split threshold: the second half runs on the thread pool
    [DataRow(TttType.Reconstruct, 61, 512)]     // 2048×512 GEMVs: above the batch split threshold, below the single-token one
    [DataRow(TttType.Delta, 61, 64)]
    [DataRow(TttType.Delta, 4096, 256)]
    [DataRow(TttType.Delta, 61, 512)]
    public void DecodeStepAllocatesNothing(TttType type, int vocab, int dim)
    {
        var c = type == TttType.Delta
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
        Assert.AreEqual(0L, allocated, $"{TttCases.Name(c)}: bytes allocated by 100 decode steps (fewest of five rounds)");
    }

    /// <summary>The engine reads exactly the tensors of BitLlamaWeights.Expected (the one docs/model.md §2 list), each once, at its shape.</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct, 4)]
    [DataRow(TttType.Delta, 4)]
    [DataRow(TttType.Delta, 0)]
    public void EngineReadsExactlyTheExpectedWeightList(TttType type, int conv)
    {
        var c = Model(type) with { TttConv = conv };
        var weights = TinyModels.RandomWeights(c, 3);
        var read = new List<(string Name, long[] Shape)>();
        InferenceWeights.Load(c, (name, shape) =>
        {
            read.Add((name, shape));
            return weights[name];
        });
        var expected = BitLlamaWeights.Expected(c);
        CollectionAssert.AreEquivalent(expected.Select(e => e.Name).ToList(), read.Select(r => r.Name).ToList(), TttCases.Name(c));
        foreach (var (name, shape, _) in expected)
            CollectionAssert.AreEqual(shape, read.Single(r => r.Name == name).Shape, name);
    }

    /// <summary>The fingerprint that ties memory files to a model covers the TTT tensors of its type, and <c>Describe</c> names the type's fields.</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct, "layers.1.ttt.up.weight", ", ttt_chunk 4")]
    [DataRow(TttType.Delta, "layers.1.ttt.v_conv.weight", ", ttt_type delta, ttt_heads 2, ttt_head_dim 16, ttt_conv 4")]
    public void TheFingerprintCoversTheTttTensors(TttType type, string tensor, string described)
    {
        var c = Model(type);
        var w = TinyModels.RandomWeights(c, 4);
        var a = TinyModels.Load(c, w);
        var changed = new Dictionary<string, float[]>(w) { [tensor] = w[tensor].Select(x => -x).ToArray() };
        Assert.AreNotEqual(a.Fingerprint, TinyModels.Load(c, changed).Fingerprint, tensor);
        StringAssert.EndsWith(a.Describe(), described);
    }

    /// <summary>
    /// Memory files name their model's fingerprint, so it must not change when the engine's layouts do: these values were
    /// computed by the engine that packed ternary weights in 128-weight row blocks and kept the fp32 head, on the same
    /// weights (every tensor of BitLlamaWeights.Expected in order, uniform ±1 from Random(3)).
    /// </summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct, "ba75c7061ff07f42a1801aeae1c598c99470cfe1816491b3a3c2c8153dfd3f00")]
    [DataRow(TttType.Delta, "0641f6db2e9b148065900fb308da6030c6f0af0a81992fb7ac9b1de13832f77d")]
    public void TheFingerprintIsTheOneEarlierVersionsComputed(TttType type, string expected)
    {
        var c = type == TttType.Delta
            ? new BitLlamaConfig { VocabSize = 61, HiddenDim = 36, NumLayers = 2, InnerLr = 1f, TttChunk = 1, TttType = TttType.Delta, TttHeads = 3, TttHeadDim = 13, TttConv = 4 }
            : new BitLlamaConfig { VocabSize = 61, HiddenDim = 32, NumLayers = 2, InnerLr = 0.1f, TttChunk = 4 };
        var rng = new Random(3);
        var w = BitLlamaWeights.Expected(c).ToDictionary(e => e.Name,
            e => Enumerable.Range(0, (int)e.Shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray());
        Assert.AreEqual(expected, InferenceWeights.Load(c, (name, _) => w[name]).Fingerprint);
        Assert.AreEqual(expected, InferenceWeights.Load(c, (name, _) => w[name], new InferenceOptions { Int8LmHead = false }).Fingerprint);
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void BadInputIsAClearError(TttType type)
    {
        var c = Model(type);
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Forward.Run(s, [1, c.VocabSize], new float[c.VocabSize]));
        StringAssert.Contains(e.Message, $"token id {c.VocabSize} at position 1");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Forward.Run(s, [-1], []));
        Assert.ThrowsExactly<ArgumentException>(() => Forward.Run(s, [], new float[c.VocabSize]));
        Assert.ThrowsExactly<ArgumentException>(() => Forward.Run(s, [1], new float[3]));
        Assert.AreEqual(0, s.Position);
        Assert.IsTrue(StateOf(s, 0).All(a => a.All(x => x == 0)), "a rejected call changed the state");
        var tooLong = Assert.ThrowsExactly<ArgumentException>(() => Forward.Run(s, new int[Forward.MaxTokensPerCall + 1], []));
        StringAssert.Contains(tooLong.Message, "exceed the limit");
        var weights = TinyModels.RandomWeights(c, 1);
        weights["layers.1.mlp.up_proj.weight"] = new float[5];
        var bad = Assert.ThrowsExactly<ArgumentException>(() => TinyModels.Load(c, weights));
        StringAssert.Contains(bad.Message, "layers.1.mlp.up_proj.weight");
    }

    /// <summary>A model file that lacks a TTT tensor of its type, or holds one of another shape, is one error naming
    /// the tensor, the expected and the found shape, through <c>Llama.LoadAuto</c> and <c>Llama.FromWeights</c> alike.</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct, "layers.0.ttt.down.weight", true)]
    [DataRow(TttType.Reconstruct, "layers.1.ttt.up.weight", false)]
    [DataRow(TttType.Delta, "layers.0.ttt.q_conv.weight", true)]
    [DataRow(TttType.Delta, "layers.1.ttt.o_proj.weight", false)]
    [DataRow(TttType.Delta, "layers.0.ttt.beta_proj.bias", false)]
    public void AMissingOrMisshapenTttTensorIsRejectedNamingIt(TttType type, string tensor, bool missing)
    {
        var c = Model(type, vocab: TinyLlama.Tokenizer().VocabSize);
        var weights = TinyModels.RandomWeights(c, 1);
        var shape = BitLlamaWeights.Expected(c).Single(e => e.Name == tensor).Shape;
        // Misshapen: a matrix with half its columns, a vector as a one-row matrix.
        long[] wrong = shape.Length == 2 ? [shape[0], shape[1] / 2] : [1, shape[0]];
        string expected = missing
            ? $"tensor '{tensor}' is missing (expected shape [{string.Join(", ", shape)}])"
            : $"tensor '{tensor}': expected shape [{string.Join(", ", shape)}], found [{string.Join(", ", wrong)}]";
        var tensors = new List<SafeTensorData>();
        foreach (var (name, s, _) in BitLlamaWeights.Expected(c))
            if (name != tensor) tensors.Add(new SafeTensorData(name, s, weights[name]));
            else if (!missing) tensors.Add(new SafeTensorData(name, wrong, weights[name][..(int)(wrong[0] * wrong[1])]));
        string dir = TempFiles.NewDirectory();
        SafeTensorsWriter.WriteFile(Path.Combine(dir, "model.safetensors"), tensors);   // no validation on write: a hostile file
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), TinyLlama.TokenizerJson);
        c.Save(Path.Combine(dir, "config.json"));
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.LoadAuto(dir));
        StringAssert.Contains(e.Message, expected);
        StringAssert.Contains(e.Message, "model.safetensors");
        var fromWeights = Assert.ThrowsExactly<ArgumentException>(() => Llama.FromWeights(c, TinyLlama.Tokenizer(), tensors));
        StringAssert.Contains(fromWeights.Message, expected);
    }
}
