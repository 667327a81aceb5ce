using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Tests;

[TestClass]
[TestCategory("Kernels")]
public sealed class TernaryKernelTests
{
    static sbyte[] RandomTernary(Random rng, int n)
    {
        var v = new sbyte[n];
        for (int i = 0; i < n; i++) v[i] = (sbyte)rng.Next(-1, 2);
        return v;
    }

    static sbyte[] RandomInt8(Random rng, int n, int padded)
    {
        var v = new sbyte[padded];
        for (int i = 0; i < n; i++) v[i] = (sbyte)rng.Next(-128, 128);
        return v;
    }

    [TestMethod]
    public void BlockSizeIsPinned()
    {
        Assert.AreEqual(128, PackedTernaryMatrix.BlockSize);
        Assert.AreEqual(32, PackedTernaryMatrix.BlockBytes);
        var m = PackedTernaryMatrix.FromTernary(new sbyte[3 * 130], 3, 130, 1f);
        Assert.AreEqual(256, m.PaddedCols);
        Assert.AreEqual(64, m.RowBytes);
        Assert.AreEqual(3 * 64, m.SizeInBytes);
    }

    [TestMethod]
    public void CodeMappingAndBitPositionsFollowTheDocumentedLayout()
    {
        // weight 0 -> bits 0-1 of byte 0, weight 32 -> bits 2-3 of byte 0, weight 97 -> bits 6-7 of byte 1.
        var t = new sbyte[128];
        t[0] = -1; t[32] = 1; t[97] = 1; t[5] = 0;
        var m = PackedTernaryMatrix.FromTernary(t, 1, 128, 1f);
        var row = m.Row(0);
        Assert.AreEqual(0, row[0] & 3);               // -1 -> 0
        Assert.AreEqual(2, (row[0] >> 2) & 3);        // +1 -> 2
        Assert.AreEqual(2, (row[1] >> 6) & 3);
        Assert.AreEqual(1, row[5] & 3);               // 0 -> 1
    }

    [TestMethod]
    public void PackingRoundTripsOnOddShapes()
    {
        var rng = new Random(1);
        foreach (var (r, c) in new[] { (0, 5), (1, 0), (1, 1), (3, 127), (5, 128), (7, 129), (2, 257), (4, 300) })
        {
            var t = RandomTernary(rng, r * c);
            CollectionAssert.AreEqual(t, PackedTernaryMatrix.FromTernary(t, r, c, 2f).ToTernary(), $"{r}x{c}");
        }
    }

    [TestMethod]
    public void ReferenceQuantizerFollowsSpec()
    {
        var rng = new Random(2);
        var w = new float[9 * 37];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
        var m = PackedTernaryMatrix.Quantize(w, 9, 37);
        double mean = w.Select(v => (double)Math.Abs(v)).Average();
        float s = 1f / MathF.Max((float)mean, 1e-5f);
        Assert.AreEqual(s, m.Scale);
        var q = m.ToTernary();
        for (int i = 0; i < w.Length; i++) Assert.AreEqual((sbyte)Math.Clamp(MathF.Round(w[i] * s), -1, 1), q[i]);
        Assert.AreEqual(1f / 1e-5f, PackedTernaryMatrix.Quantize(new float[4], 2, 2).Scale);
    }

    [TestMethod]
    public void ActivationQuantizationRoundsHalfToEvenAndPads()
    {
        var x = new Int8Activations(2, 5);
        x.Quantize(new float[] { 127f, 2.5f, -0.5f, 3.5f, -127f, 0, 0, 0, 0, 0 }, 2);
        CollectionAssert.AreEqual(new sbyte[] { 127, 2, 0, 4, -127 }, x.Row(0)[..5].ToArray());
        Assert.AreEqual(1f, x.Scale(0));
        Assert.AreEqual(127 + 2 + 4 - 127, x.Sum(0));
        Assert.AreEqual(128, x.Row(0).Length);
        Assert.IsTrue(x.Row(0)[5..].ToArray().All(v => v == 0));
        Assert.AreEqual(127f / 1e-5f, x.Scale(1));   // all-zero row: eps guard
        Assert.AreEqual(0, x.Sum(1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => x.Quantize(new float[15], 3));
    }

    [TestMethod]
    public void FastActivationQuantizerEqualsTheReferenceOnEveryLength0To257()
    {
        var rng = new Random(8);
        for (int n = 0; n <= 257; n++)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 8 - 4);
            if (n > 2) { x[0] = 127f; x[1] = 2.5f; x[2] = -3.5f; }   // a = 1: exact halves must round to even
            for (int i = 3; i < n; i += 7) x[i] = (float)Math.Round(x[i] * 4) / 4 + 0.5f;
            var fast = new sbyte[n + 3];
            var reference = new sbyte[n + 3];
            fast.AsSpan().Fill(99);
            int sf = Int8Activations.QuantizeRow(x, fast, out float af);
            int sr = Int8Activations.QuantizeRowReference(x, reference, out float ar);
            Assert.AreEqual(ar, af, $"n={n}");
            Assert.AreEqual(sr, sf, $"n={n}");
            CollectionAssert.AreEqual(reference, fast, $"n={n}");
        }
    }

    [TestMethod]
    public void EverySimdPathEqualsTheReferenceOnEveryLength0To257()
    {
        var rng = new Random(3);
        for (int n = 0; n <= 257; n++)
        {
            var t = RandomTernary(rng, n);
            var m = PackedTernaryMatrix.FromTernary(t, 1, n, 1f);
            var x = RandomInt8(rng, n, m.PaddedCols);
            int expected = 0, sumX = 0;
            for (int i = 0; i < n; i++) { expected += t[i] * x[i]; sumX += x[i]; }
            var row = m.Row(0);
            Assert.AreEqual(expected, TernaryKernels.DotCodesReference(row, x) - sumX, $"reference n={n}");
            Assert.AreEqual(expected, TernaryKernels.DotCodes(row, x) - sumX, $"dispatch n={n}");
            if (System.Runtime.Intrinsics.X86.Avx512BW.IsSupported)
                Assert.AreEqual(expected, TernaryKernels.DotCodesAvx512(row, x) - sumX, $"avx512 n={n}");
            if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
                Assert.AreEqual(expected, TernaryKernels.DotCodesAvx2(row, x) - sumX, $"avx2 n={n}");
            if (System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated)
                Assert.AreEqual(expected, TernaryKernels.DotCodesVector128(row, x) - sumX, $"vector128 n={n}");
        }
    }

    [TestMethod]
    public void ExtremeActivationsDoNotSaturate()
    {
        foreach (sbyte v in new sbyte[] { -128, 127 })
        {
            var t = Enumerable.Repeat((sbyte)1, 1024).ToArray();
            var m = PackedTernaryMatrix.FromTernary(t, 1, 1024, 1f);
            var x = Enumerable.Repeat(v, 1024).ToArray();
            Assert.AreEqual(2 * 1024 * v, TernaryKernels.DotCodesReference(m.Row(0), x));
            Assert.AreEqual(2 * 1024 * v, TernaryKernels.DotCodes(m.Row(0), x));
            if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
                Assert.AreEqual(2 * 1024 * v, TernaryKernels.DotCodesAvx2(m.Row(0), x));
        }
    }

    [TestMethod]
    public void GemvAndGemmEqualTheIntegerReferenceOnOddShapes()
    {
        var rng = new Random(4);
        foreach (var (rows, cols, tokens) in new[] { (1, 1, 1), (3, 5, 2), (17, 127, 3), (33, 129, 7), (5, 257, 1), (64, 256, 16), (1031, 515, 9) })
        {
            var w = new float[rows * cols];
            for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
            var m = PackedTernaryMatrix.Quantize(w, rows, cols);
            var q = m.ToTernary();
            var xf = new float[tokens * cols];
            for (int i = 0; i < xf.Length; i++) xf[i] = (float)(rng.NextDouble() * 6 - 3);
            var x = new Int8Activations(tokens, cols);
            x.Quantize(xf, tokens);
            var y = new float[tokens * rows];
            TernaryKernels.Gemm(m, x, y);
            var yi = new int[rows];
            for (int t = 0; t < tokens; t++)
            {
                TernaryKernels.GemvInt(m, x, t, yi);
                for (int r = 0; r < rows; r++)
                {
                    int expected = 0;
                    for (int c = 0; c < cols; c++) expected += q[r * cols + c] * x.Row(t)[c];
                    Assert.AreEqual(expected, yi[r], $"{rows}x{cols} t={t} r={r}");
                    Assert.AreEqual(expected / (x.Scale(t) * m.Scale), y[t * rows + r], $"{rows}x{cols} t={t} r={r}");
                }
            }
        }
    }

    [TestMethod]
    public void ParallelGemmEqualsTheSingleThreadedRowsOnOddShapes()
    {
        var rng = new Random(6);
        // Odd row counts put the split inside a row pair; odd columns exercise the padding.
        foreach (var (rows, cols, tokens) in new[] { (67, 130, 31), (257, 65, 32), (1023, 300, 29), (999, 257, 17) })
        {
            var m = PackedTernaryMatrix.Quantize(Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), rows, cols);
            Assert.IsGreaterThanOrEqualTo(TernaryKernels.ParallelThreshold, (long)rows * m.PaddedCols * tokens, $"{rows}x{cols}x{tokens} must take the parallel path");
            var x = new Int8Activations(tokens, cols);
            x.Quantize(Enumerable.Range(0, tokens * cols).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray(), tokens);
            var expected = new float[tokens * rows];
            TernaryKernels.GemmRows(m, x, expected, 0, rows);
            var y = new float[tokens * rows];
            for (int i = 0; i < 20; i++)   // the pool thread may or may not take a part: every interleaving must agree
            {
                Array.Fill(y, float.NaN);
                TernaryKernels.Gemm(m, x, y);
                CollectionAssert.AreEqual(expected, y, $"{rows}x{cols}x{tokens}, run {i}");
            }
        }
    }

    [TestMethod]
    public void MismatchedShapesAreArgumentErrors()
    {
        var m = PackedTernaryMatrix.FromTernary(new sbyte[4 * 10], 4, 10, 1f);
        var x = new Int8Activations(1, 11);
        x.Quantize(new float[11], 1);
        Assert.ThrowsExactly<ArgumentException>(() => TernaryKernels.Gemm(m, x, new float[4]));
        var ok = new Int8Activations(1, 10);
        ok.Quantize(new float[10], 1);
        Assert.ThrowsExactly<ArgumentException>(() => TernaryKernels.Gemm(m, ok, new float[3]));
        Assert.ThrowsExactly<ArgumentException>(() => TernaryKernels.DotCodes(new byte[32], new sbyte[100]));
        Assert.ThrowsExactly<ArgumentException>(() => PackedTernaryMatrix.Quantize(new float[5], 2, 3));
    }
}
