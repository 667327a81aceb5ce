using BitTtt.Inference.Engine;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class Int8LmHeadTests
{
    [TestMethod]
    [TestCategory("Kernels")]
    public void QuantizerAndGemvFollowTheSpecificationWithinTheRoundingBound()
    {
        var rng = new Random(2);
        foreach (var (rows, cols) in new[] { (1, 16), (7, 32), (33, 256), (5, 17), (9, 100), (3, 0) })
        {
            var w = Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var x = Enumerable.Range(0, cols).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var m = Int8RowMatrix.Quantize(w, rows, cols);
            var fast = new float[rows];
            var reference = new float[rows];
            m.Gemv(x, fast, 0, rows);
            m.GemvReference(x, reference, 0, rows);
            for (int r = 0; r < rows; r++)
            {
                float max = cols == 0 ? 0 : w.Skip(r * cols).Take(cols).Max(MathF.Abs);
                double exact = 0, absSum = 0;
                for (int j = 0; j < cols; j++) { exact += (double)w[r * cols + j] * x[j]; absSum += Math.Abs(x[j]); }
                // each weight moves by at most half a step (max/127/2); float summation adds ~1e-6 relative
                double bound = 0.5 * max / 127 * absSum + 1e-5 * (1 + absSum);
                Assert.AreEqual(exact, fast[r], bound, $"{rows}x{cols} row {r} fast");
                Assert.AreEqual(reference[r], fast[r], 1e-5 * (1 + absSum), $"{rows}x{cols} row {r} vs reference");
            }
        }
        Assert.ThrowsExactly<ArgumentException>(() => Int8RowMatrix.Quantize(new float[5], 2, 3));
    }

    [TestMethod]
    public void EngineWithInt8HeadStaysCloseAndAllocatesNothing()
    {
        var c = TinyModels.Config(vocab: 300, dim: 64, chunk: 4);
        var w = TinyModels.RandomWeights(c, 3);
        var exact = new SequenceState(TinyModels.Load(c, w));
        var int8Weights = InferenceWeights.Load(c, (name, _) => w[name], new InferenceOptions { Int8LmHead = true });
        Assert.IsTrue(int8Weights.UsesInt8LmHead);
        Assert.AreEqual(exact.Weights.Fingerprint, int8Weights.Fingerprint);   // memory files work in both modes
        var approx = new SequenceState(int8Weights);
        var a = new float[c.VocabSize];
        var b = new float[c.VocabSize];
        float worst = 0;
        foreach (var t in TinyModels.RandomTokens(20, c.VocabSize, 1))
        {
            Forward.Run(exact, [t], a);
            Forward.Run(approx, [t], b);
            for (int i = 0; i < a.Length; i++) worst = MathF.Max(worst, MathF.Abs(a[i] - b[i]));
        }
        Assert.IsGreaterThan(0f, worst);       // it really is the int8 copy
        Assert.IsLessThan(0.1f, worst);        // rounding bound: D · max|w|/254 · |h| ≈ 0.06 at most here
        for (int i = 0; i < 10; i++) Forward.Run(approx, [5], b);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) Forward.Run(approx, [5], b);
        Assert.AreEqual(0L, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [TestMethod]
    public void LlamaLoadsWithTheInt8HeadOnRequest()
    {
        var c = TinyLlama.Config();
        using var exact = Llama.FromWeights(c, TinyLlama.Tokenizer(), TinyLlama.Tensors(c, 4));
        using var approx = Llama.FromWeights(c, TinyLlama.Tokenizer(), TinyLlama.Tensors(c, 4), new InferenceOptions { Int8LmHead = true });
        Assert.IsFalse(exact.Weights.UsesInt8LmHead);
        Assert.IsTrue(approx.Weights.UsesInt8LmHead);
        Assert.IsGreaterThan(0, approx.Complete("the whale", SamplingOptions.Greedy(8)).Length);
    }
}
