using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Tests;

/// <summary>The int8 LM head (Int8Rows layout, 16-bit activations): every path against the reference, bit for bit.</summary>
[TestClass]
public sealed class Int8LmHeadTests
{
    static IEnumerable<(string Name, Action<Int8RowMatrix, Int16Activations, float[][], int, int> Gemm)> Paths()
    {
        yield return ("dispatch", (m, x, y, b0, b1) => m.Gemm(x, y, b0, b1));
        if (System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) yield return ("avx512", (m, x, y, b0, b1) => m.GemmAvx512(x, y, b0, b1));
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) yield return ("avx2", (m, x, y, b0, b1) => m.GemmAvx2(x, y, b0, b1));
        if (System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated) yield return ("vector128", (m, x, y, b0, b1) => m.GemmVector128(x, y, b0, b1));
    }

    static float[] Random(Random rng, int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();

    [TestMethod]
    [TestCategory("Kernels")]
    public void TheLayoutAndQuantizerFollowTheSpecification()
    {
        Assert.AreEqual(64, Int8Rows.RowPadding);
        Assert.AreEqual(0 * 32 + 2 * 3 + 1, Int8Rows.GroupOffset(3, 1, 8));           // row 3, column 1: pair 0, byte 2·3 + 1
        Assert.AreEqual((1 * 4 + 2) * 32 + 2 * 1 + 0, Int8Rows.GroupOffset(17, 4, 8));  // group 1, pair 2, row 1 of the group
        var rng = new Random(1);
        var w = Random(rng, 5 * 6, 1);
        w[7] = 0; w[8] = 2.5f;                                                          // row 1's max is 2.5: q = round(w · 127 / 2.5)
        var (q, scales) = Int8Rows.Quantize(w, 5, 6);
        Assert.AreEqual(2.5f / 127f, scales[1]);
        Assert.AreEqual(127, q[8]);
        for (int i = 0; i < w.Length; i++)
            Assert.AreEqual((sbyte)Math.Clamp(MathF.Round(w[i] * (127f / w.Skip(i / 6 * 6).Take(6).Max(MathF.Abs))), -127, 127), q[i], $"element {i}");
        var m = Int8RowMatrix.Quantize(w, 5, 6);
        Assert.AreEqual(64, m.PaddedRows);
        var (back, backScales) = m.ToRowMajor();
        CollectionAssert.AreEqual(q, back);
        CollectionAssert.AreEqual(scales, backScales);
        var dequantized = Int8Rows.Dequantize(q, scales, 5, 6);
        for (int i = 0; i < w.Length; i++) Assert.AreEqual(w[i], dequantized[i], scales[i / 6] / 2 + 1e-6f, $"element {i}");   // half a step
        var zero = Int8RowMatrix.Quantize(new float[2 * 4], 2, 4).ToRowMajor();
        Assert.IsTrue(zero.Scales.All(s => s == 0) && zero.Values.All(v => v == 0));
    }

    [TestMethod]
    [TestCategory("Kernels")]
    public void SixteenBitActivationsRoundHalfToEvenWithinTheOverflowLimit()
    {
        Assert.AreEqual(32767, Int16Activations.Limit(256));
        Assert.AreEqual(32767, Int16Activations.Limit(516));
        Assert.AreEqual((int)(int.MaxValue / (127L * 1024)), Int16Activations.Limit(1024));   // 127 · A · C < 2³¹
        var x = new Int16Activations(2, 4);
        x.Quantize(new float[] { 32767f, 2.5f, -0.5f, 3.5f, 0, 0, 0, 0 }, 2);
        CollectionAssert.AreEqual(new short[] { 32767, 2, 0, 4 }, x.Row(0).ToArray());
        Assert.AreEqual(1f, x.Scale(0));
        Assert.AreEqual(32767f / 1e-5f, x.Scale(1));
    }

    [TestMethod]
    [TestCategory("Kernels")]
    public void EveryPathEqualsTheReferenceBitForBitOnOddShapes()
    {
        var rng = new Random(2);
        foreach (int rows in new[] { 1, 16, 17, 63, 64, 65, 130 })
            foreach (int cols in new[] { 2, 4, 18, 64, 100, 256 })
                foreach (int tokens in new[] { 0, 1, 3, 4, 5, 9 })
                {
                    var m = Int8RowMatrix.Quantize(Random(rng, rows * cols, 1), rows, cols);
                    var x = new Int16Activations(Math.Max(tokens, 1), cols);
                    x.Quantize(Random(rng, tokens * cols, 3), tokens);
                    var expected = Enumerable.Range(0, tokens).Select(_ => new float[rows]).ToArray();
                    m.GemmReference(x, expected, 0, m.Blocks);
                    foreach (var (name, gemm) in Paths())
                    {
                        var y = Enumerable.Range(0, tokens).Select(_ => Enumerable.Repeat(float.NaN, rows + 3).ToArray()).ToArray();
                        gemm(m, x, y, 0, m.Blocks);
                        for (int t = 0; t < tokens; t++)
                        {
                            CollectionAssert.AreEqual(expected[t], y[t][..rows], $"{name} {rows}x{cols} T={tokens} token {t}");
                            Assert.IsTrue(y[t][rows..].All(float.IsNaN), $"{name} {rows}x{cols}: wrote past row {rows}");
                        }
                    }
                }
    }

    [TestMethod]
    [TestCategory("Kernels")]
    public void ExtremeValuesSumExactlyInInt32()
    {
        int rows = 64, cols = 1024;
        var m = Int8RowMatrix.Quantize(Enumerable.Repeat(1f, rows * cols).ToArray(), rows, cols);   // every q = 127
        var x = new Int16Activations(2, cols);
        x.Quantize(Enumerable.Repeat(-1f, cols).Concat(Enumerable.Repeat(1f, cols)).ToArray(), 2);   // every xq = ∓A
        long exact = 127L * Int16Activations.Limit(cols) * cols;
        Assert.IsLessThan(int.MaxValue, exact);
        foreach (var (name, gemm) in Paths())
        {
            var y = new[] { new float[rows], new float[rows] };
            gemm(m, x, y, 0, m.Blocks);
            Assert.AreEqual(-exact * (1f / 127f) / x.Scale(0), y[0][5], Math.Abs(y[0][5]) * 1e-6, name);
            Assert.AreEqual((float)exact * (1f / 127f) / x.Scale(1), y[1][63], name);
        }
    }

    [TestMethod]
    [TestCategory("Kernels")]
    public void TheHeadStaysWithinItsRoundingBoundOfTheFp32Product()
    {
        var rng = new Random(3);
        foreach (var (rows, cols) in new[] { (7, 32), (33, 256), (9, 100) })
        {
            var w = Random(rng, rows * cols, 1);
            var xf = Random(rng, cols, 2);
            var m = Int8RowMatrix.Quantize(w, rows, cols);
            var x = new Int16Activations(1, cols);
            x.Quantize(xf, 1);
            var y = new[] { new float[rows] };
            m.Gemm(x, y, 0, m.Blocks);
            for (int r = 0; r < rows; r++)
            {
                float max = w.Skip(r * cols).Take(cols).Max(MathF.Abs);
                double exact = 0, absSum = 0;
                for (int j = 0; j < cols; j++) { exact += (double)w[r * cols + j] * xf[j]; absSum += Math.Abs(xf[j]); }
                // each weight moves by at most half a step (max/127/2); the 16-bit input by max|x|/32767/2 per element
                double bound = 0.5 * max / 127 * absSum + 0.5 * xf.Max(MathF.Abs) / 32767 * max * cols + 1e-5 * (1 + absSum);
                Assert.AreEqual(exact, y[0][r], bound, $"{rows}x{cols} row {r}");
            }
        }
    }

    [TestMethod]
    public void ATokensLogitsDoNotDependOnTheOtherTokensOrTheBlockSplit()
    {
        var rng = new Random(4);
        int rows = 5001, cols = 256, tokens = 11;
        var m = Int8RowMatrix.Quantize(Random(rng, rows * cols, 1), rows, cols);
        var xf = Random(rng, tokens * cols, 2);
        var x = new Int16Activations(tokens, cols);
        x.Quantize(xf, tokens);
        var all = Enumerable.Range(0, tokens).Select(_ => new float[rows]).ToArray();
        m.Gemm(x, all, 0, m.Blocks);
        var one = new Int16Activations(1, cols);
        var alone = new[] { new float[rows] };
        for (int t = 0; t < tokens; t++)
        {
            one.Quantize(xf.AsSpan(t * cols, cols), 1);
            m.Gemm(one, alone, 0, m.Blocks);
            CollectionAssert.AreEqual(all[t], alone[0], $"token {t}");
        }
        var split = Enumerable.Range(0, tokens).Select(_ => new float[rows]).ToArray();
        foreach (var (b0, b1) in new[] { (40, m.Blocks), (0, 1), (1, 40) }) m.Gemm(x, split, b0, b1);
        for (int t = 0; t < tokens; t++) CollectionAssert.AreEqual(all[t], split[t], $"split, token {t}");
    }

    [TestMethod]
    public void TheFp32HeadStaysAvailableAndTheFingerprintIsTheSame()
    {
        var c = TinyModels.Config(vocab: 300, dim: 64, chunk: 4);
        var w = TinyModels.RandomWeights(c, 3);
        var int8 = InferenceWeights.Load(c, (name, _) => w[name]);
        var fp32 = InferenceWeights.Load(c, (name, _) => w[name], new InferenceOptions { Int8LmHead = false });
        Assert.IsTrue(int8.UsesInt8LmHead);
        Assert.IsFalse(fp32.UsesInt8LmHead);
        Assert.AreEqual(fp32.Fingerprint, int8.Fingerprint);   // memory files work in both modes
        var (a, b) = (new SequenceState(fp32), new SequenceState(int8));
        var (la, lb) = (new float[c.VocabSize], new float[c.VocabSize]);
        float worst = 0;
        foreach (var t in TinyModels.RandomTokens(20, c.VocabSize, 1))
        {
            Forward.Run(a, [t], la);
            Forward.Run(b, [t], lb);
            worst = MathF.Max(worst, EngineTests.MaxAbsDiff(la, lb));
        }
        Assert.IsGreaterThan(0f, worst);       // it really is the int8 head
        Assert.IsLessThan(0.1f, worst);        // rounding bound: D · max|w|/254 · |h| ≈ 0.06 at most here
    }
}
