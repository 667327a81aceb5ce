using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class BitLinearTests
{
    // Integer reference of docs/model.md §3: ternary weights and int8 activations multiplied with integer
    // accumulation, then divided by the float product a·s, as the managed engine's kernels do. The training
    // path computes the same integer dot (exact in fp32) and the same last rounding, so they agree bit for bit.
    static float[] IntegerReference(float[] x, int rows, int inF, float[] w, int outF)
    {
        double meanAbs = w.Select(v => (double)Math.Abs(v)).Average();
        float s = 1f / MathF.Max((float)meanAbs, 1e-5f);
        var wq = w.Select(v => (int)Math.Clamp(MathF.Round(v * s, MidpointRounding.ToEven), -1, 1)).ToArray();
        var y = new float[rows * outF];
        for (int r = 0; r < rows; r++)
        {
            float max = 0;
            for (int i = 0; i < inF; i++) max = MathF.Max(max, MathF.Abs(x[r * inF + i]));
            float a = 127f / MathF.Max(max, 1e-5f);
            var xq = new int[inF];
            for (int i = 0; i < inF; i++) xq[i] = (int)Math.Clamp(MathF.Round(x[r * inF + i] * a, MidpointRounding.ToEven), -128, 127);
            for (int o = 0; o < outF; o++)
            {
                long acc = 0;
                for (int i = 0; i < inF; i++) acc += xq[i] * wq[o * inF + i];
                y[r * outF + o] = acc / (a * s);
            }
        }
        return y;
    }

    [TestMethod]
    [DataRow(1, 1, 1)]
    [DataRow(7, 13, 5)]
    [DataRow(33, 64, 17)]
    public void ForwardMatchesIntegerImplementation(int rows, int inF, int outF)
    {
        manual_seed(rows * 1000 + inF);
        using var layer = new BitLinear("l", inF, outF);
        using var x = randn(rows, inF) * 3;
        using var y = layer.forward(x);
        var w = layer.state_dict()["weight"].data<float>().ToArray();
        var expected = IntegerReference(x.data<float>().ToArray(), rows, inF, w, outF);
        var actual = y.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], $"element {i}");   // exact
    }

    [TestMethod]
    public void WeightsAreTernaryAndTiesRoundToEven()
    {
        // mean|W| = 1 -> s = 1: 0.5 -> 0, 1.5 -> 2 -> clamped 1, -0.5 -> 0 (half to even, not away from zero).
        using var w = tensor(new float[] { 0.5f, 1.5f, -0.5f, 0.5f, 1.5f, 1.5f }, 2, 3);
        using var q = BitLinear.QuantizeWeight(w);
        CollectionAssert.AreEqual(new float[] { 0, 1, 0, 0, 1, 1 }, q.data<float>().ToArray());
        // a = 127 / 254 = 0.5: 1 -> round(0.5) = 0, 3 -> round(1.5) = 2, 254 -> 127.
        using var x = tensor(new float[] { 1, 3, 254, -5 }, 1, 4);
        using var xq = BitLinear.QuantizeActivation(x);
        CollectionAssert.AreEqual(new float[] { 0, 4, 254, -4 }, xq.data<float>().ToArray());
    }

    [TestMethod]
    public void StraightThroughGradientsUseTheQuantizedOperands()
    {
        manual_seed(5);
        using var layer = new BitLinear("l", 9, 4);
        using var x = randn(3, 9, requires_grad: true);
        using var y = layer.forward(x);
        using var r = randn(3, 4);
        (y * r).sum().backward();
        var weight = layer.parameters().Single();
        using var wq = BitLinear.QuantizeWeight(weight.detach());
        using var xq = BitLinear.QuantizeActivation(x.detach());
        using var expectedDx = r.matmul(wq);        // dL/dx = r · (Wq/s)
        using var expectedDw = r.t().matmul(xq);    // dL/dW = rᵀ · (xq/a)
        Assert.IsTrue(allclose(x.grad!, expectedDx, 1e-5, 1e-6), "dL/dx");
        Assert.IsTrue(allclose(weight.grad!, expectedDw, 1e-5, 1e-6), "dL/dW");
    }

    // The delta layer's fused q/k/v projection against three separate layers: the same values (each weight
    // quantized with its own scale, the input once) and the same gradients.
    [TestMethod]
    public void ForwardConcatEqualsSeparateLayers()
    {
        manual_seed(9);
        using var scope = NewDisposeScope();
        BitLinear[] layers = [new("a", 13, 5), new("b", 13, 7), new("c", 13, 5)];
        var x = randn(2, 3, 13, requires_grad: true);
        var r = randn(2, 3, 17);
        var fused = BitLinear.ForwardConcat(x, layers);
        (fused * r).sum().backward();
        var fusedGrads = layers.Select(l => l.parameters().Single().grad!.clone()).Append(x.grad!.clone()).ToArray();
        foreach (var l in layers) l.zero_grad();
        x.grad!.zero_();
        var separate = cat(layers.Select(l => l.forward(x)).ToArray(), -1);
        (separate * r).sum().backward();
        var separateGrads = layers.Select(l => l.parameters().Single().grad!).Append(x.grad!).ToArray();
        Assert.IsTrue(allclose(fused, separate, 1e-6, 1e-7), $"values differ by {(fused - separate).abs().max().item<float>()}");
        for (int i = 0; i < fusedGrads.Length; i++)
            Assert.IsTrue(allclose(fusedGrads[i], separateGrads[i], 1e-5, 1e-6), i < layers.Length ? $"dL/dW of layer {i}" : "dL/dx");
    }
}
