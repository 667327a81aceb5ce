using BitTtt.Formats;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Tests;

/// <summary>
/// The packed ternary layout (TernaryPacking) and the ternary × int8 GEMM: every SIMD path against the scalar
/// reference, bit for bit, on odd shapes and token counts; CI reruns this class with DOTNET_EnableHWIntrinsic=0.
/// </summary>
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

    [TestMethod]
    public void TheLayoutAndItsSizeFormulaArePinned()
    {
        Assert.AreEqual(16, TernaryPacking.GroupRows);
        Assert.AreEqual(32, TernaryPacking.RowPadding);
        Assert.AreEqual(16, TernaryPacking.TileCols);
        Assert.AreEqual(64, TernaryPacking.TileBytes);
        var m = PackedTernaryMatrix.FromTernary(new sbyte[3 * 130], 3, 130, 1f);
        Assert.AreEqual(32, m.PaddedRows);
        Assert.AreEqual(144, m.PaddedCols);
        Assert.AreEqual(32 * 144 / 4, m.SizeInBytes);
        Assert.AreEqual(32L * 144 / 4, TernaryPacking.PackedBytes(3, 130));
        Assert.AreEqual(1024L * 256 / 4, TernaryPacking.PackedBytes(1024, 256));   // the default model's gate_proj: 64 KiB
    }

    [TestMethod]
    public void CodeMappingAndBitPositionsFollowTheDocumentedLayout()
    {
        // byte 4i + j of tile t holds row i's columns 16t + j (bits 0-1), + 4 (2-3), + 8 (4-5), + 12 (6-7); code = w + 1.
        int rows = 40, cols = 40;
        var t = new sbyte[rows * cols];
        t[0 * cols + 0] = -1;     // tile 0, byte 0, bits 0-1 -> code 0
        t[0 * cols + 4] = 1;      // tile 0, byte 0, bits 2-3 -> code 2
        t[2 * cols + 13] = 1;     // tile 0, byte 4·2 + 1 = 9, bits 6-7
        t[17 * cols + 18] = -1;   // group 1, tile 1, byte 4·1 + 2 = 6, bits 0-1
        var codes = PackedTernaryMatrix.FromTernary(t, rows, cols, 1f).Codes;
        int tiles = 48 / 16;      // 40 columns padded to 48
        Assert.AreEqual(0, codes[0] & 3);
        Assert.AreEqual(2, (codes[0] >> 2) & 3);
        Assert.AreEqual(1, (codes[0] >> 4) & 3);                          // a zero weight is code 1
        Assert.AreEqual(2, (codes[9] >> 6) & 3);
        Assert.AreEqual(0, codes[(1 * tiles + 1) * 64 + 6] & 3);
        Assert.AreEqual(1, (codes[(1 * tiles + 2) * 64 + 4 * 3 + 3] >> 6) & 3);   // column 47 is padding: weight 0
        Assert.AreEqual((1 * tiles + 1) * 64 + 6, TernaryPacking.Locate(17, 18, 48).Offset);
    }

    [TestMethod]
    public void PackingRoundTripsOnOddShapes()
    {
        var rng = new Random(1);
        foreach (var (r, c) in new[] { (0, 5), (1, 0), (1, 1), (3, 15), (5, 16), (7, 17), (33, 129), (2, 257), (31, 300) })
        {
            var t = RandomTernary(rng, r * c);
            var m = PackedTernaryMatrix.FromTernary(t, r, c, 2f);
            CollectionAssert.AreEqual(t, m.ToTernary(), $"{r}x{c}");
            Assert.AreEqual(TernaryPacking.PackedBytes(r, c), m.SizeInBytes, $"{r}x{c}");
            var back = PackedTernaryMatrix.FromCodes(m.Codes.ToArray(), r, c, 2f, "w");
            CollectionAssert.AreEqual(t, back.ToTernary(), $"{r}x{c} from codes");
            var dequantized = TernaryPacking.Dequantize(m.Codes, 2f, r, c);
            for (int i = 0; i < t.Length; i++) Assert.AreEqual(t[i] / 2f, dequantized[i]);
        }
    }

    [TestMethod]
    public void PackedCodesFromAFileAreChecked()
    {
        var m = PackedTernaryMatrix.FromTernary(RandomTernary(new Random(2), 5 * 20), 5, 20, 1f);
        var bad = m.Codes.ToArray();
        bad[70] |= 3;   // a code 3 somewhere in group 0, tile 1
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => PackedTernaryMatrix.FromCodes(bad, 5, 20, 1f, "x.weight")).Message, "byte 70 holds the code 3");
        var padding = m.Codes.ToArray();
        var (offset, shift) = TernaryPacking.Locate(6, 0, 32);   // row 6 is a padding row of a 5-row weight
        padding[offset] = (byte)(padding[offset] & ~(3 << shift) | (2 << shift));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => PackedTernaryMatrix.FromCodes(padding, 5, 20, 1f, "x.weight")).Message, "padding weight [6, 0]");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => PackedTernaryMatrix.FromCodes(m.Codes[..^1], 5, 20, 1f, "x.weight")).Message, "needs 256");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => PackedTernaryMatrix.FromCodes(m.Codes.ToArray(), 5, 20, float.NaN, "x.weight")).Message, "scale NaN");
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
        Assert.AreEqual(16, x.Row(0).Length);   // padded to the weights' 16-column tiles
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

    /// <summary>Every implementation of the GEMM on this machine, by name (the dispatching one included).</summary>
    static IEnumerable<(string Name, Action<PackedTernaryMatrix, Int8Activations, float[], int, int> Gemm)> Paths()
    {
        yield return ("dispatch", (w, x, y, b0, b1) => TernaryKernels.GemmBlocks(w, x, y, b0, b1));
        if (System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) yield return ("avx512", (w, x, y, b0, b1) => TernaryKernels.GemmAvx512(w, x, y, b0, b1));
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) yield return ("avx2", (w, x, y, b0, b1) => TernaryKernels.GemmAvx2(w, x, y, b0, b1));
        if (System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated) yield return ("vector128", (w, x, y, b0, b1) => TernaryKernels.GemmVector128(w, x, y, b0, b1));
    }

    static (PackedTernaryMatrix W, Int8Activations X) Case(Random rng, int rows, int cols, int tokens)
    {
        var w = PackedTernaryMatrix.FromTernary(RandomTernary(rng, rows * cols), rows, cols, 0.5f + (float)rng.NextDouble());
        var x = new Int8Activations(Math.Max(tokens, 1), cols);
        x.Quantize(Enumerable.Range(0, tokens * cols).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray(), tokens);
        return (w, x);
    }

    [TestMethod]
    public void EveryPathEqualsTheReferenceBitForBitOnOddShapes()
    {
        var rng = new Random(3);
        // Rows across group and block edges, columns across tiles and the int16 widening every 128 columns, and token
        // counts through every tail of the 8-, 4- and 1-token steps.
        foreach (int rows in new[] { 1, 15, 16, 17, 31, 33, 64, 100 })
            foreach (int cols in new[] { 1, 15, 16, 17, 100, 127, 128, 129, 257, 300 })
                foreach (int tokens in new[] { 0, 1, 3, 4, 5, 8, 9, 13 })
                {
                    var (w, x) = Case(rng, rows, cols, tokens);
                    var expected = new float[tokens * rows];
                    TernaryKernels.GemmReference(w, x, expected, 0, TernaryKernels.Blocks(w));
                    foreach (var (name, gemm) in Paths())
                    {
                        var y = Enumerable.Repeat(float.NaN, tokens * rows + 3).ToArray();
                        gemm(w, x, y, 0, TernaryKernels.Blocks(w));
                        CollectionAssert.AreEqual(expected, y[..(tokens * rows)], $"{name} {rows}x{cols} T={tokens}");
                        Assert.IsTrue(y[(tokens * rows)..].All(float.IsNaN), $"{name} {rows}x{cols} T={tokens} wrote past the output");
                    }
                }
    }

    [TestMethod]
    public void TheReferenceIsTheIntegerDotScaledAsTheModelSays()
    {
        var rng = new Random(4);
        foreach (var (rows, cols, tokens) in new[] { (1, 1, 1), (3, 5, 2), (17, 127, 3), (33, 129, 7), (5, 257, 1) })
        {
            var (w, x) = Case(rng, rows, cols, tokens);
            var q = w.ToTernary();
            var y = new float[tokens * rows];
            TernaryKernels.GemmReference(w, x, y, 0, TernaryKernels.Blocks(w));
            for (int t = 0; t < tokens; t++)
                for (int r = 0; r < rows; r++)
                {
                    int expected = 0;
                    for (int c = 0; c < cols; c++) expected += q[r * cols + c] * x.Row(t)[c];
                    Assert.AreEqual(expected / (x.Scale(t) * w.Scale), y[t * rows + r], $"{rows}x{cols} t={t} r={r}");   // docs/model.md §3
                }
        }
    }

    [TestMethod]
    public void ExtremeActivationsDoNotOverflowTheInt16Sums()
    {
        // All codes 2 (+1) or all 0 (-1) against all -128 or all 127: every int16 lane holds its largest sums.
        foreach (sbyte wq in new sbyte[] { -1, 1 })
            foreach (sbyte v in new sbyte[] { -128, 127 })
            {
                int rows = 32, cols = 1024, tokens = 9;
                var w = PackedTernaryMatrix.FromTernary(Enumerable.Repeat(wq, rows * cols).ToArray(), rows, cols, 1f);
                var x = new Int8Activations(tokens, cols);
                x.Quantize(Enumerable.Repeat((float)v, tokens * cols).ToArray(), tokens);   // a = 1 when max|x| = 127; -128 clamps
                var expected = new float[tokens * rows];
                TernaryKernels.GemmReference(w, x, expected, 0, 1);
                Assert.AreEqual(wq * cols * x.Row(0)[0] / x.Scale(0), expected[0]);
                foreach (var (name, gemm) in Paths())
                {
                    var y = new float[tokens * rows];
                    gemm(w, x, y, 0, 1);
                    CollectionAssert.AreEqual(expected, y, $"{name} w={wq} x={v}");
                }
            }
    }

    [TestMethod]
    public void ATokensOutputsDoNotDependOnTheOtherTokensOrTheRowSplit()
    {
        var rng = new Random(6);
        int rows = 999, cols = 257, tokens = 17;
        var w = PackedTernaryMatrix.FromTernary(RandomTernary(rng, rows * cols), rows, cols, 1.7f);
        var xf = Enumerable.Range(0, tokens * cols).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
        var x = new Int8Activations(tokens, cols);
        x.Quantize(xf, tokens);
        var all = new float[tokens * rows];
        TernaryKernels.Gemm(w, x, all);
        var one = new Int8Activations(1, cols);
        var alone = new float[rows];
        for (int t = 0; t < tokens; t++)
        {
            one.Quantize(xf.AsSpan(t * cols, cols), 1);
            TernaryKernels.Gemm(w, one, alone);
            CollectionAssert.AreEqual(all[(t * rows)..((t + 1) * rows)], alone, $"token {t} alone vs beside {tokens - 1} others");
        }
        var split = new float[tokens * rows];
        int blocks = TernaryKernels.Blocks(w);
        foreach (var (b0, b1) in new[] { (7, blocks), (0, 3), (3, 7) }) TernaryKernels.GemmBlocks(w, x, split, b0, b1);   // any order
        CollectionAssert.AreEqual(all, split);
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
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TernaryKernels.GemmBlocks(m, ok, new float[4], 0, 2));
        Assert.ThrowsExactly<ArgumentException>(() => PackedTernaryMatrix.Quantize(new float[5], 2, 3));
    }
}
