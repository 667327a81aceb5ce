using BitTtt.Formats;
using BitTtt.Inference.Engine;

namespace BitTtt.Inference.Tests;

/// <summary>The delta-rule TTT layer (docs/model.md §3b) in the managed engine: reference, batching, splits, reset, load errors.</summary>
[TestClass]
public sealed class DeltaEngineTests
{
    public TestContext TestContext { get; set; } = null!;


    static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => EngineTests.MaxAbsDiff(a, b);

    [TestMethod]
    [DataRow(1, 16, 0, 32, 2)]    // one head, no convolution
    [DataRow(2, 7, 1, 32, 2)]     // odd head width, a 1-tap conv (a per-channel scale, no tail)
    [DataRow(3, 5, 4, 16, 1)]     // F = 15 < D
    [DataRow(3, 13, 4, 36, 2)]    // F = 39 > D
    [DataRow(2, 0, 3, 64, 1)]     // head width defaults to D / H = 32
    public void TokenByTokenMatchesTheReferenceForward(int heads, int headDim, int conv, int dim, int layers)
    {
        var c = TinyModels.DeltaConfig(dim: dim, layers: layers, heads: heads, headDim: headDim, conv: conv);
        var w = TinyModels.RandomWeights(c, seed: heads * 31 + headDim + conv);
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
        TestContext.WriteLine($"H {heads}, dh {c.TttHeadDim}, K {conv}, D {dim}: max |managed - reference| = {worst:E2} (max |logit| {scale:F2})");
        Assert.IsLessThan(EngineTests.ReferenceTolerance, worst);
        Assert.AreEqual(tokens.Length, state.Position);
        Assert.IsTrue(state.StateS(0).ToArray().Any(x => x != 0), "S stayed zero");
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    [DataRow(4)]
    public void BatchedPromptAndAnySplitGiveTheSameLogitsAsTokenByToken(int conv)
    {
        var c = TinyModels.DeltaConfig(heads: 3, headDim: 9, conv: conv);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, seed: 11 + conv));
        var tokens = TinyModels.RandomTokens(SequenceState.MaxBatch + 13, c.VocabSize, seed: 3);
        var one = new SequenceState(weights);
        var stepwise = new float[c.VocabSize];
        foreach (var t in tokens) Forward.Run(one, [t], stepwise);
        var batched = new SequenceState(weights);
        var logits = new float[c.VocabSize];
        Forward.Run(batched, tokens, logits);
        CollectionAssert.AreEqual(stepwise, logits);   // bit-identical: same kernels, same token order
        AssertSameState(one, batched, c);
        var rng = new Random(conv);
        for (int trial = 0; trial < 6; trial++)        // splits shorter than the conv tail, across batches, ...
        {
            var split = new SequenceState(weights);
            var cuts = Enumerable.Range(0, 3).Select(_ => rng.Next(1, tokens.Length)).Append(1).Append(2).Distinct().Order().ToList();
            int start = 0;
            foreach (int cut in cuts.Append(tokens.Length))
            {
                if (cut <= start) continue;
                Forward.Run(split, tokens.AsSpan(start, cut - start), cut == tokens.Length ? logits : []);
                start = cut;
            }
            CollectionAssert.AreEqual(stepwise, logits, $"split at {string.Join(",", cuts)}");
            AssertSameState(one, split, c);
        }
    }

    static void AssertSameState(SequenceState a, SequenceState b, BitLlamaConfig c)
    {
        for (int l = 0; l < c.NumLayers; l++)
        {
            CollectionAssert.AreEqual(a.StateS(l).ToArray(), b.StateS(l).ToArray(), $"S of layer {l}");
            CollectionAssert.AreEqual(a.StateConvTail(l).ToArray(), b.StateConvTail(l).ToArray(), $"conv tail of layer {l}");
        }
    }

    [TestMethod]
    public void ResetClearsSAndTheConvTails()
    {
        var c = TinyModels.DeltaConfig(conv: 4);
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        var first = new float[c.VocabSize];
        var again = new float[c.VocabSize];
        Forward.Run(s, [1, 2, 3], first);
        Forward.Run(s, [4, 5], again);
        Assert.IsTrue(s.StateConvTail(1).ToArray().Any(x => x != 0));
        s.Reset();
        Assert.IsTrue(s.StateConvTail(1).ToArray().All(x => x == 0) && s.StateS(1).ToArray().All(x => x == 0));
        Forward.Run(s, [1, 2, 3], again);
        CollectionAssert.AreEqual(first, again);
    }

    [TestMethod]
    public void TheStateMattersAndTheLayerIsNotTheSeeds()
    {
        // A delta model must carry context: the last token's logits depend on what came before it.
        var c = TinyModels.DeltaConfig(conv: 0);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 2));
        var a = new float[c.VocabSize];
        var b = new float[c.VocabSize];
        Forward.Run(new SequenceState(weights), [3, 9, 4, 7], a);
        Forward.Run(new SequenceState(weights), [8, 1, 5, 7], b);
        Assert.IsGreaterThan(1e-3f, MaxAbsDiff(a, b));
    }

    [TestMethod]
    public void MissingOrMisshapenDeltaTensorsAreRejectedNamingTheTensor()
    {
        var c = TinyModels.DeltaConfig(vocab: TinyLlama.Tokenizer().VocabSize, heads: 2, conv: 4);
        var weights = TinyModels.RandomWeights(c, 1);
        var shapes = BitLlamaWeights.Expected(c).ToDictionary(s => s.Name, s => s.Shape);
        string dir = Path.Combine(Path.GetTempPath(), "bitttt-delta-" + Guid.NewGuid().ToString("N"));
        try
        {
            void Check(string expectedInMessage, Func<string, long[], float[], (long[], float[])?> edit)
            {
                var tensors = new List<SafeTensorData>();
                foreach (var (name, shape, _) in BitLlamaWeights.Expected(c))
                    if (edit(name, shape, weights[name]) is var (s, data)) tensors.Add(new SafeTensorData(name, s, data));
                Directory.CreateDirectory(dir);
                SafeTensorsWriter.WriteFile(Path.Combine(dir, "model.safetensors"), tensors);   // no validation on write: a hostile file
                File.WriteAllText(Path.Combine(dir, "tokenizer.json"), TinyLlama.TokenizerJson);
                c.Save(Path.Combine(dir, "config.json"));
                var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.LoadAuto(dir));
                StringAssert.Contains(e.Message, expectedInMessage);
                StringAssert.Contains(e.Message, "model.safetensors");
                var fromWeights = Assert.ThrowsExactly<ArgumentException>(() => Llama.FromWeights(c, TinyLlama.Tokenizer(), tensors));
                StringAssert.Contains(fromWeights.Message, expectedInMessage);
            }
            Check("tensor 'layers.0.ttt.q_conv.weight' is missing (expected shape [32, 4])",
                (name, s, d) => name == "layers.0.ttt.q_conv.weight" ? null : (s, d));
            Check("tensor 'layers.1.ttt.o_proj.weight': expected shape [32, 32], found [32, 16]",
                (name, s, d) => name == "layers.1.ttt.o_proj.weight" ? ([32, 16], d[..(32 * 16)]) : (s, d));
            Check("tensor 'layers.0.ttt.beta_proj.bias': expected shape [2], found [1, 2]",
                (name, s, d) => name == "layers.0.ttt.beta_proj.bias" ? ([1, 2], d) : (s, d));
            Assert.AreEqual(2L, shapes["layers.0.ttt.beta_proj.bias"][0]);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void DeltaModelsLoadTheirOwnTensorsOnly()
    {
        // A delta model needs no ttt.down/ttt.up, and its fingerprint covers the delta tensors.
        var c = TinyModels.DeltaConfig(conv: 4);
        var w = TinyModels.RandomWeights(c, 4);
        Assert.IsFalse(w.ContainsKey("layers.0.ttt.down.weight"));
        var a = TinyModels.Load(c, w);
        var changed = new Dictionary<string, float[]>(w) { ["layers.1.ttt.v_conv.weight"] = w["layers.1.ttt.v_conv.weight"].Select(x => x * 0.5f).ToArray() };
        Assert.AreNotEqual(a.Fingerprint, TinyModels.Load(c, changed).Fingerprint);
        StringAssert.Contains(a.Describe(), "ttt_type delta, ttt_heads 2, ttt_head_dim 16, ttt_conv 4");
    }
}
