using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

/// <summary>
/// The delta layer's chunk-parallel form (docs/model.md §3b) against the plain token loop, the fused layer against
/// its unfused composition, and gradients against float64 finite differences. Splits and state errors, which both
/// TTT layers share, are in TttLayerTests.
/// </summary>
[TestClass]
public sealed class DeltaTttReferenceTests
{
    // docs/model.md §3b, one head of one sequence, token by token: S -= β (S k - v) kᵀ; o = S q. Rows are (T, dh),
    // S is (dh, dh) row-major, read as S·k.
    internal static double[] TokenLoop(double[] q, double[] k, double[] v, double[] beta, double[] s, int time, int dh)
    {
        var o = new double[time * dh];
        for (int t = 0; t < time; t++)
        {
            var e = new double[dh];
            for (int i = 0; i < dh; i++)
            {
                double sk = 0;
                for (int j = 0; j < dh; j++) sk += s[i * dh + j] * k[t * dh + j];
                e[i] = sk - v[t * dh + i];
            }
            for (int i = 0; i < dh; i++)
                for (int j = 0; j < dh; j++) s[i * dh + j] -= beta[t] * e[i] * k[t * dh + j];
            for (int i = 0; i < dh; i++)
            {
                double sq = 0;
                for (int j = 0; j < dh; j++) sq += s[i * dh + j] * q[t * dh + j];
                o[t * dh + i] = sq;
            }
        }
        return o;
    }

    static Tensor Normalized(Tensor x) => x / x.pow(2).sum([-1], keepdim: true).sqrt().add(1e-6);

    [TestMethod]
    [DataRow(7, 3)]
    [DataRow(9, 5)]
    public void ChunkFormMatchesTokenLoopForEveryChunkSize(int time, int dh)
    {
        const int batch = 2, heads = 3;
        manual_seed(time * 10 + dh);
        using var scope = NewDisposeScope();
        var q = Normalized(randn(batch, heads, time, dh, float64));
        var k = Normalized(randn(batch, heads, time, dh, float64));
        var v = randn(batch, heads, time, dh, float64);
        var beta = rand(batch, heads, time, float64) * 1.5;          // up to inner_lr = 1.5
        var s0 = randn(batch, heads, dh, dh, float64) * 0.5;          // a non-zero start exercises U = U₀ − W S₀ᵀ
        for (int chunk = 1; chunk <= time; chunk++)
        {
            foreach (var start in new[] { s0, null })
            {
                var (o, s) = DeltaTttLayer.ChunkForm(q, k, v, beta, start, chunk);
                for (int b = 0; b < batch; b++)
                    for (int h = 0; h < heads; h++)
                    {
                        var state = start is null ? new double[dh * dh] : start[b, h].data<double>().ToArray();
                        var expected = TokenLoop(q[b, h].data<double>().ToArray(), k[b, h].data<double>().ToArray(),
                            v[b, h].data<double>().ToArray(), beta[b, h].data<double>().ToArray(), state, time, dh);
                        AssertClose(expected, o[b, h].data<double>().ToArray(), 1e-10, $"outputs, chunk {chunk}, b {b}, h {h}, start {(start is null ? "zero" : "random")}");
                        AssertClose(state, s[b, h].data<double>().ToArray(), 1e-10, $"final S, chunk {chunk}, b {b}, h {h}");
                    }
            }
        }
    }

    [TestMethod]
    public void ChunkFormOfAnEmptySequenceKeepsTheState()
    {
        using var scope = NewDisposeScope();
        var s0 = randn(1, 2, 3, 3, float64);
        var none = zeros(1, 2, 0, 3, float64);
        var (o, s) = DeltaTttLayer.ChunkForm(none, none, none, zeros(1, 2, 0, float64), s0, 4);
        CollectionAssert.AreEqual(new long[] { 1, 2, 0, 3 }, o.shape);
        Assert.IsTrue(allclose(s, s0, 0, 0));
    }

    // docs/model.md §3b's convolution written out: y_t[c] = Σ_j w[c, j] x_{t-K+1+j}[c], x before 0 = 0.
    [TestMethod]
    [DataRow(1)]
    [DataRow(4)]
    public void ShortConvMatchesTheSumAndCarriesItsTail(int kernel)
    {
        const int batch = 2, time = 7, channels = 5;
        manual_seed(kernel);
        using var scope = NewDisposeScope();
        var x = randn(batch, time, channels, float64);
        var w = randn(channels, kernel, float64);
        var (y, _) = ShortConv.Apply(x, w, null);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < time; t++)
                for (int c = 0; c < channels; c++)
                {
                    double expected = 0;
                    for (int j = 0; j < kernel; j++)
                    {
                        int s = t - kernel + 1 + j;
                        if (s >= 0) expected += w[c, j].item<double>() * x[b, s, c].item<double>();
                    }
                    Assert.AreEqual(expected, y[b, t, c].item<double>(), 1e-12, $"b {b}, t {t}, c {c}");
                }
        // In pieces of 2, 1 and 4 tokens (pieces shorter than the kernel), carrying the tail.
        Tensor? tail = null;
        var parts = new List<Tensor>();
        foreach (var (start, length) in new[] { (0, 2), (2, 1), (3, 4) })
        {
            var (part, next) = ShortConv.Apply(x.narrow(1, start, length), w, tail);
            parts.Add(part);
            tail = next;
        }
        Assert.IsTrue(allclose(y, cat(parts, 1), 0, 1e-14), "pieces differ from the whole");
    }

    // The fused layer (one q/k/v matmul, one grouped convolution, q and k normalized together in the chunk
    // layout) against docs/model.md §3b composed from unfused pieces: three BitLinear products, each
    // convolution as its sum over taps, per-head norms and the scalar token loop, in float64.
    [TestMethod]
    [DataRow(4, 3, 5)]
    [DataRow(0, 4, 3)]
    [DataRow(2, 16, 4)]
    public void FusedLayerEqualsTheUnfusedComposition(int conv, int chunk, int headDim)
    {
        const int batch = 2, time = 11, heads = 3;
        manual_seed(conv * 7 + chunk);
        using var scope = NewDisposeScope();
        var config = TttLayerTests.LayerConfig(TttType.Delta, chunk, conv, headDim);
        using var layer = TttLayerTests.RandomLayer(config);
        var p = layer.named_parameters().ToDictionary(e => e.name, e => e.parameter.detach());
        var a = randn(batch, time, 12, float64);
        var (output, state) = layer.Forward(a, null);

        Tensor Project(string name, Tensor x) => BitLinear.QuantizeActivation(x).matmul(BitLinear.QuantizeWeight(p[$"{name}.weight"]).t());
        Tensor Convolve(string name, Tensor x)                          // (B, T, F): Σ_j w[:, j] · x_{t−K+1+j}
        {
            if (conv == 0) return x;
            var w = p[$"{name}.weight"];
            var rows = new Tensor[time];
            for (int t = 0; t < time; t++)
            {
                rows[t] = zeros(batch, x.shape[2], float64);
                for (int j = 0; j < conv; j++)
                    if (t - conv + 1 + j >= 0) rows[t] = rows[t] + x[.., t - conv + 1 + j] * w[.., j];
            }
            return stack(rows, 1);
        }
        var q = Convolve("q_conv", Project("q_proj", a));
        var k = Convolve("k_conv", Project("k_proj", a));
        var v = Convolve("v_conv", Project("v_proj", a));
        var beta = nn.functional.sigmoid(a.matmul(p["beta_proj.weight"].t()) + p["beta_proj.bias"]) * config.InnerLr;   // (B, T, H)
        var o = zeros(batch, time, heads * headDim, float64);
        var s = zeros(batch, heads, headDim, headDim, float64);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                Tensor Head(Tensor x) => x[b, .., TensorIndex.Slice(h * headDim, (h + 1) * headDim)];
                var state0 = new double[headDim * headDim];
                var oh = TokenLoop(Normalized(Head(q)).data<double>().ToArray(), Normalized(Head(k)).data<double>().ToArray(),
                    Head(v).contiguous().data<double>().ToArray(), beta[b, .., h].contiguous().data<double>().ToArray(), state0, time, headDim);
                Head(o).copy_(tensor(oh, float64).reshape(time, headDim));
                s[b, h].copy_(tensor(state0, float64).reshape(headDim, headDim));
            }
        var expected = Project("o_proj", o + v);
        Assert.IsTrue(allclose(expected, output, 0, 1e-10), $"outputs differ by {(expected - output).abs().max().item<double>():E2}");
        Assert.IsTrue(allclose(s, ((DeltaTttState)state).S, 0, 1e-10), "final S");
    }

    [TestMethod]
    public void ChunkSizeDoesNotChangeTheLayer()
    {
        manual_seed(5);
        using var scope = NewDisposeScope();
        using var reference = TttLayerTests.RandomLayer(TttLayerTests.LayerConfig(TttType.Delta, chunk: 1));
        var a = randn(2, 9, 12, float64);
        var expected = reference.forward(a);
        foreach (int chunk in new[] { 2, 4, 9, 64 })
        {
            using var layer = new DeltaTttLayer("ttt", TttLayerTests.LayerConfig(TttType.Delta, chunk));
            layer.to(float64);
            layer.load_state_dict(reference.state_dict());
            Assert.IsTrue(allclose(expected, layer.forward(a), 0, 1e-12), $"chunk {chunk}");
        }
    }

    // A training window from a zero state runs as one block (DeltaTttLayer.OneBlockFromZero); the same tokens after a
    // one-token prefix run in blocks of ttt_chunk with a carried state. Outputs and the gradients of every parameter and
    // of the input agree, so the one-block form is the same function for training, not only for the forward pass.
    [TestMethod]
    [DataRow(3, 40)]
    [DataRow(16, 128)]
    public void OneBlockTrainingFormEqualsTheChunkedFormWithGradients(int chunk, int time)
    {
        manual_seed(chunk + time);
        using var scope = NewDisposeScope();
        using var layer = TttLayerTests.RandomLayer(TttLayerTests.LayerConfig(TttType.Delta, chunk, conv: 3, headDim: 5));
        var input = randn(2, time, 12, float64);
        var r = randn(2, time, 12, float64);
        (Tensor Output, Dictionary<string, Tensor> Grads) Run(bool split)
        {
            layer.zero_grad();
            var a = input.detach().requires_grad_(true);
            Tensor output;
            if (split)
            {
                var (first, state) = layer.Forward(a.narrow(1, 0, 1), null);
                var (rest, _) = layer.Forward(a.narrow(1, 1, time - 1), state);   // carried state: blocks of ttt_chunk
                output = cat([first, rest], 1);
            }
            else output = layer.forward(a);                                        // one block, no final state
            (output * r).sum().backward();
            var grads = layer.named_parameters().ToDictionary(e => e.name, e => e.parameter.grad!.clone());
            grads["input"] = a.grad!.clone();
            return (output.detach(), grads);
        }
        var (oneBlock, oneGrads) = Run(split: false);
        var (chunked, chunkGrads) = Run(split: true);
        Assert.IsTrue(allclose(chunked, oneBlock, 0, 1e-10), $"outputs differ by {(chunked - oneBlock).abs().max().item<double>():E2}");
        foreach (var (name, g) in chunkGrads)
            Assert.IsTrue(allclose(g, oneGrads[name], 1e-9, 1e-9), $"d/d{name} differs by {(g - oneGrads[name]).abs().max().item<double>():E2}");
    }

    // Gradients through every update, float64, against central differences of
    // L = Σ R ⊙ ChunkForm(normalize(conv(x)), ...) + terms in the final S and conv tail, with respect to
    // x, the conv weights and tail, β and S₀. Each input is checked along random directions δ
    // (⟨∇L, δ⟩ against (L(p + hδ) − L(p − hδ)) / 2h), as PyTorch's fast gradcheck does.
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(5)]
    public void GradientMatchesFiniteDifferences(int chunk)
    {
        const int batch = 2, heads = 2, dh = 3, time = 5, kernel = 3, f = heads * dh, directions = 4;
        const double h = 1e-6;
        manual_seed(70 + chunk);
        using var scope = NewDisposeScope();
        var inputs = new Dictionary<string, Tensor>
        {
            ["x"] = randn(batch, time, 3 * f, float64),
            ["conv"] = randn(3 * f, kernel, float64),
            ["tail"] = randn(batch, kernel - 1, 3 * f, float64),
            ["beta"] = rand(batch, heads, time, float64) + 0.2,
            ["s0"] = randn(batch, heads, dh, dh, float64) * 0.5,
        };
        var r = randn(batch, heads, time, dh, float64);

        Tensor Loss(IReadOnlyDictionary<string, Tensor> t)
        {
            var (y, tail) = ShortConv.Apply(t["x"], t["conv"], t["tail"]);
            Tensor Head(int part) => y.narrow(2, part * f, f).reshape(batch, time, heads, dh).transpose(1, 2);
            var (o, s) = DeltaTttLayer.ChunkForm(Normalized(Head(0)), Normalized(Head(1)), Head(2), t["beta"], t["s0"], chunk);
            return (o * r).sum() + (s * s).sum() * 0.3 + tail.sum() * 0.1;
        }

        var leaves = inputs.ToDictionary(p => p.Key, p => p.Value.clone().requires_grad_(true));
        Loss(leaves).backward();
        foreach (var (name, value) in inputs)
            for (int d = 0; d < directions; d++)
            {
                var delta = randn_like(value);
                double analytic = (leaves[name].grad! * delta).sum().item<double>();
                double Shifted(double step) => Loss(new Dictionary<string, Tensor>(inputs) { [name] = value + delta * step }).item<double>();
                double numeric = (Shifted(h) - Shifted(-h)) / (2 * h);
                Assert.AreEqual(numeric, analytic, 1e-6 * Math.Max(1, Math.Abs(numeric)), $"d/d{name} along direction {d}, chunk {chunk}");
            }
    }

    static void AssertClose(double[] expected, double[] actual, double tolerance, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], tolerance * Math.Max(1, Math.Abs(expected[i])), $"{what}, element {i}");
    }
}
