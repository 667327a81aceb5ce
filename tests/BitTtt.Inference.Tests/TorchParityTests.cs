using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Inference.Tests;

/// <summary>
/// The managed engine against the TorchSharp model (BitTtt.Training) on the same weights: logits at
/// every position of a sequence, the TorchSharp model processing it at once (chunked dual form), the
/// managed engine token by token (W and running G).
/// Tolerance: both quantize activations to int8 with the same formula (a = 127 / max|x|) and weights to
/// the same ternary values, and the integer products are exact on both sides, so differences come
/// only from float summation order (RMSNorm, TTT, the fp32 LM head) and the final scaling: observed
/// max 4e-6, median 2e-7 (logits up to ~10). The max bound 5e-3 leaves room for one int8 rounding
/// flip (an activation within float noise of a .5 boundary, ~1e-3 on the logits), which another
/// CPU's BLAS summation order could trigger; the median bound 1e-5 catches any systematic error.
/// </summary>
[TestClass]
public sealed class TorchParityTests
{
    const float MaxTolerance = 5e-3f;
    const float MedianTolerance = 1e-5f;

    public TestContext TestContext { get; set; } = null!;

    static float[][] TorchLogits(BitLlamaModel model, int[] ids)
    {
        using var _ = no_grad();
        using var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
        using var logits = model.forward(input);   // (1, T, V)
        var flat = logits.data<float>().ToArray();
        int v = model.Config.VocabSize;
        return Enumerable.Range(0, ids.Length).Select(t => flat.AsSpan(t * v, v).ToArray()).ToArray();
    }

    static float[][] ManagedLogits(BitLlamaModel model, int[] ids)
    {
        var weights = ModelWeights.Export(model).ToDictionary(t => t.Name, t => t.Data.ToArray());
        var state = new SequenceState(InferenceWeights.Load(model.Config, (name, _) => weights[name]));
        return ids.Select(id =>
        {
            var logits = new float[model.Config.VocabSize];
            Forward.Run(state, [id], logits);
            return logits;
        }).ToArray();
    }

    (float Max, float Median) Compare(BitLlamaModel model, int[] ids, string what)
    {
        var torchLogits = TorchLogits(model, ids);
        var managed = ManagedLogits(model, ids);
        var diffs = torchLogits.Zip(managed).SelectMany(p => p.First.Zip(p.Second, (a, b) => MathF.Abs(a - b))).Order().ToArray();
        float max = diffs[^1], median = diffs[diffs.Length / 2];
        float scale = torchLogits.SelectMany(r => r).Max(MathF.Abs);
        int argmaxAgree = torchLogits.Zip(managed).Count(p => Array.IndexOf(p.First, p.First.Max()) == Array.IndexOf(p.Second, p.Second.Max()));
        TestContext.WriteLine($"{what}: max |torch - managed| = {max:E2}, median {median:E2}, max |logit| {scale:F2}, argmax agrees at {argmaxAgree}/{ids.Length} positions");
        Assert.IsLessThan(MaxTolerance, max, what);
        Assert.IsLessThan(MedianTolerance, median, what);
        return (max, median);
    }

    static int[] Tokens(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(4)]
    [DataRow(16)]
    public void RandomModelLogitsAgree(int chunk)
    {
        torch.manual_seed(chunk);
        var config = new BitLlamaConfig { VocabSize = 97, HiddenDim = 32, NumLayers = 2, InnerLr = 0.1f, TttChunk = chunk };
        using var model = new BitLlamaModel(config);
        Compare(model, Tokens(37, config.VocabSize, chunk), $"random model, ttt_chunk {chunk}");
    }

    [TestMethod]
    public void BrieflyTrainedModelLogitsAgree()
    {
        torch.manual_seed(3);
        var config = new BitLlamaConfig { VocabSize = 64, HiddenDim = 48, NumLayers = 2, InnerLr = 0.1f, TttChunk = 8 };
        using var model = new BitLlamaModel(config);
        var pattern = TrainBriefly(model, config.VocabSize);
        Compare(model, pattern.Take(50).ToArray(), "briefly trained model");
    }

    // Delta (docs/model.md §3b). The torch side runs its chunk-wise WY/UT form over the whole sequence, the managed
    // engine the token loop; both quantize the same activations, so only float rounding differs.
    // The agreement required, relative to the largest logit: max |torch - managed| ≤ 1e-4 · max |logit|.
    const float DeltaRelativeTolerance = 1e-4f;

    float CompareRelative(BitLlamaModel model, int[] ids, string what)
    {
        var (max, _) = Compare(model, ids, what);
        float scale = TorchLogits(model, ids).SelectMany(r => r).Max(MathF.Abs);
        TestContext.WriteLine($"{what}: relative max difference {max / scale:E2}");
        Assert.IsLessThan(DeltaRelativeTolerance, max / scale, what);
        return max / scale;
    }

    [TestMethod]
    [DataRow(2, 0, 4, 1)]
    [DataRow(3, 5, 4, 8)]     // odd head width, chunk 8 over 37 tokens (a partial last chunk)
    [DataRow(1, 16, 0, 16)]   // no convolution
    [DataRow(2, 7, 1, 4)]
    public void RandomDeltaModelLogitsAgree(int heads, int headDim, int conv, int chunk)
    {
        // Random values for every tensor, convolutions and beta bias included (a new torch layer starts
        // with identity convolutions and a zero bias, which would hide a mix-up of taps or channels).
        var config = TinyModels.DeltaConfig(vocab: 97, dim: 32, layers: 2, heads: heads, headDim: headDim, conv: conv, chunk: chunk);
        var w = TinyModels.RandomWeights(config, seed: heads + 10 * conv + chunk);
        using var model = ModelWeights.FromWeights(config, BitLlamaWeights.Expected(config).Select(s => new SafeTensorData(s.Name, s.Shape, w[s.Name])).ToList());
        var ids = Tokens(37, config.VocabSize, chunk);
        var torchLogits = TorchLogits(model, ids);
        var managed = ManagedLogits(model, ids);
        var reference = ReferenceForward.Logits(config, w, ids);
        float scale = torchLogits.SelectMany(r => r).Max(MathF.Abs);
        static float Diff(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
        var outliers = new List<int>();
        for (int t = 0; t < ids.Length; t++)
        {
            if (Diff(torchLogits[t], managed[t]) / scale <= DeltaRelativeTolerance) continue;
            outliers.Add(t);
            // Observed once before BitLinear computed the integer dot (H 3, dh 5, K 4: 9e-3 at the last position, for ttt_chunk 1 and 8 alike): torch alone
            // is off from the float64 docs/model.md reference there, i.e. one of its int8 activations rounded the other way.
            Assert.IsLessThan(DeltaRelativeTolerance, Diff(managed[t], reference[t]) / scale, $"position {t}: the managed engine is off from docs/model.md reference");
        }
        var diffs = torchLogits.Zip(managed).SelectMany(p => p.First.Zip(p.Second, (a, b) => MathF.Abs(a - b))).Order().ToArray();
        TestContext.WriteLine($"random delta model H {heads}, dh {config.TttHeadDim}, K {conv}, ttt_chunk {chunk}: max |torch - managed| / max |logit| = {diffs[^1] / scale:E2}, " +
                              $"median {diffs[diffs.Length / 2]:E2}; positions over {DeltaRelativeTolerance:E0} relative: [{string.Join(", ", outliers)}]");
        Assert.IsLessThanOrEqualTo(1, outliers.Count, "more than one position with an int8 rounding flip means a systematic difference");
        Assert.IsLessThan(MedianTolerance, diffs[diffs.Length / 2]);
    }

    [TestMethod]
    public void BrieflyTrainedDeltaModelLogitsAgree()
    {
        torch.manual_seed(5);
        var config = TinyModels.DeltaConfig(vocab: 64, dim: 48, layers: 2, heads: 3, conv: 4, chunk: 8);
        using var model = new BitLlamaModel(config);
        var pattern = TrainBriefly(model, config.VocabSize);
        var weights = ModelWeights.Export(model).ToDictionary(t => t.Name, t => t.Data.ToArray());
        Assert.IsTrue(weights["layers.0.ttt.q_conv.weight"].Where((_, i) => i % 4 != 3).Any(v => v != 0), "training left the convolutions at the identity");
        CompareRelative(model, pattern.Take(50).ToArray(), "briefly trained delta model");
    }

    // A delta model of the QuickStart's width (64, 4 heads × 16, conv 4) trained on windows of its full context
    // (64 tokens), compared at every position of that context. BitLinear computes the integer dot and one scale
    // on both sides (docs/model.md §3), so only reduction order differs (norms, the chunk form against the token
    // loop); before, the float matmul of dequantized values flipped int8 activations (docs/inference.md).
    [TestMethod]
    public void TrainedDeltaModelAgreesOverTheFullContext()
    {
        torch.manual_seed(11);
        var config = TinyModels.DeltaConfig(vocab: 64, dim: 64, layers: 2, heads: 4, conv: 4, chunk: 16) with { ContextLen = 64 };
        using var model = new BitLlamaModel(config);
        var pattern = TrainBriefly(model, config.VocabSize, steps: 60, window: 64);
        var ids = pattern.Skip(101).Take(64).ToArray();
        CompareRelative(model, ids, "delta model trained on 64-token windows, full context");
        var argmaxAgree = TorchLogits(model, ids).Zip(ManagedLogits(model, ids)).Count(p => Array.IndexOf(p.First, p.First.Max()) == Array.IndexOf(p.Second, p.Second.Max()));
        Assert.AreEqual(ids.Length, argmaxAgree, "top-1 differs");
    }

    /// <summary>AdamW steps (25 unless told) on a learnable token pattern (enough to move every weight off its
    /// initialization); returns the pattern. Fails if the loss did not drop by a fifth.</summary>
    int[] TrainBriefly(BitLlamaModel model, int vocab, int steps = 25, int window = 32)
    {
        var pattern = Enumerable.Range(0, 200).Select(i => (i * 7 + i / 5) % 64).ToArray();   // learnable sequence
        using var optimizer = optim.AdamW(model.parameters(), lr: 1e-2);
        double first = 0, last = 0;
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            int start = step * 3 % (pattern.Length - window - 1);
            var x = tensor(pattern.Skip(start).Take(window).Select(i => (long)i).ToArray(), [1, window]);
            var y = tensor(pattern.Skip(start + 1).Take(window).Select(i => (long)i).ToArray(), [window]);
            var loss = nn.functional.cross_entropy(model.forward(x).reshape(window, vocab), y);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        TestContext.WriteLine($"training loss {first:F3} -> {last:F3}");
        Assert.IsLessThan(first * 0.8, last, "the model did not train");
        return pattern;
    }
}
