using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Tests;

/// <summary>The delta kernels against their scalar references on every small width and odd sizes.</summary>
[TestClass]
public sealed class DeltaKernelTests
{
    // Fast and reference sum the same products in another order: relative float rounding ~1e-6 per
    // row of up to 257 terms of size ≤ 1.
    const float Tolerance = 2e-5f;

    static float[] Random(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    static float MaxAbsDiff(float[] a, float[] b) => EngineTests.MaxAbsDiff(a, b);

    [TestMethod]
    [TestCategory("Kernels")]
    public void UpdateAndReadMatchesTheReferenceOnEveryWidth()
    {
        var rng = new Random(1);
        foreach (int dh in Enumerable.Range(0, 70).Append(80).Append(127).Append(128).Append(256).Append(257))
        {
            var s = Random(rng, dh * dh).Select(x => x * 0.3f).ToArray();
            var k = Random(rng, dh);
            var v = Random(rng, dh);
            var q = Random(rng, dh);
            float beta = (float)rng.NextDouble();
            var sFast = (float[])s.Clone();
            var sRef = (float[])s.Clone();
            var oFast = new float[dh];
            var oRef = new float[dh];
            DeltaKernels.UpdateAndRead(sFast, k, v, q, beta, oFast);
            DeltaKernels.UpdateAndReadReference(sRef, k, v, q, beta, oRef);
            Assert.IsLessThan(Tolerance, MaxAbsDiff(sFast, sRef), $"S, dh {dh}");
            Assert.IsLessThan(Tolerance * MathF.Max(1, dh / 16f), MaxAbsDiff(oFast, oRef), $"o, dh {dh}");
        }
    }

    [TestMethod]
    public void UpdateAndReadIsTheDeltaRuleWrittenOut()
    {
        // dh = 2 by hand: S = [[1, 2], [3, 4]], held by columns as [1, 3, 2, 4]; k = (1, 0), v = (0, 1), β = 0.5, q = (0, 1).
        // Sk − v = (1, 3) − (0, 1) = (1, 2); S −= 0.5·(1, 2)·(1, 0)ᵀ → [[0.5, 2], [2, 4]] (by columns [0.5, 2, 2, 4]); o = S q = (2, 4).
        foreach (bool reference in new[] { true, false })
        {
            float[] s = [1, 3, 2, 4];
            var o = new float[2];
            if (reference) DeltaKernels.UpdateAndReadReference(s, [1, 0], [0, 1], [0, 1], 0.5f, o);
            else DeltaKernels.UpdateAndRead(s, [1, 0], [0, 1], [0, 1], 0.5f, o);
            CollectionAssert.AreEqual(new float[] { 0.5f, 2, 2, 4 }, s);
            CollectionAssert.AreEqual(new float[] { 2, 4 }, o);
        }
    }

    [TestMethod]
    public void CausalConvMatchesTheReference()
    {
        var rng = new Random(2);
        foreach (int taps in new[] { 1, 2, 4, 7 })
            foreach (int f in new[] { 1, 3, 15, 16, 39, 64, 257 })
            {
                var window = Random(rng, taps * f);
                var wT = Random(rng, taps * f);
                var fast = new float[f];
                var reference = new float[f];
                DeltaKernels.CausalConv(window, wT, taps, fast);
                DeltaKernels.CausalConvReference(window, wT, taps, reference);
                Assert.IsLessThan(1e-5f, MaxAbsDiff(fast, reference), $"K {taps}, F {f}");
            }
    }

    [TestMethod]
    public void HeadsTransposeBetweenRowsAndColumnsAndBack()
    {
        var rows = Random(new Random(3), 3 * 5 * 5);
        var columns = new float[rows.Length];
        var back = new float[rows.Length];
        DeltaKernels.TransposeHeads(rows, columns, 3, 5);
        Assert.AreEqual(rows[2 * 25 + 1 * 5 + 4], columns[2 * 25 + 4 * 5 + 1]);   // head 2, row 1, column 4
        DeltaKernels.TransposeHeads(columns, back, 3, 5);
        CollectionAssert.AreEqual(rows, back);
    }

    [TestMethod]
    public void WrongLengthsAreRejected()
    {
        Assert.ThrowsExactly<ArgumentException>(() => DeltaKernels.UpdateAndRead(new float[8], new float[3], new float[3], new float[3], 1, new float[3]));
        Assert.ThrowsExactly<ArgumentException>(() => DeltaKernels.CausalConv(new float[8], new float[8], 4, new float[3]));
    }
}
