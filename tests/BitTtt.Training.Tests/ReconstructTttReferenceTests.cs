using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

/// <summary>
/// The reconstruct layer's chunked dual form (docs/model.md §3a) against the plain token loop for every chunk size, and
/// gradients against float64 finite differences. Splits and state errors, which both TTT layers share, are in
/// TttLayerTests.
/// </summary>
[TestClass]
public sealed class ReconstructTttReferenceTests
{
    // docs/model.md §3 generation rule, token by token: pred_t = (W - ηG) k_t; G += (W k_t - k_t) k_tᵀ;
    // when the chunk is full W -= ηG, G = 0. k is one sequence (T, d), row-major.
    static double[] TokenLoop(double[] k, int time, int d, double eta, int chunk, double[] w0)
    {
        var w = (double[])w0.Clone();
        var g = new double[d * d];
        var pred = new double[time * d];
        int position = 0;
        for (int t = 0; t < time; t++)
        {
            var e = new double[d];
            for (int i = 0; i < d; i++)
            {
                double wk = 0, gk = 0;
                for (int j = 0; j < d; j++)
                {
                    wk += w[i * d + j] * k[t * d + j];
                    gk += g[i * d + j] * k[t * d + j];
                }
                pred[t * d + i] = wk - eta * gk;
                e[i] = wk - k[t * d + i];
            }
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) g[i * d + j] += e[i] * k[t * d + j];
            if (++position == chunk)
            {
                for (int i = 0; i < d * d; i++) { w[i] -= eta * g[i]; g[i] = 0; }
                position = 0;
            }
        }
        return pred;
    }

    static Tensor NormalizedKeys(int batch, int time, int d)
    {
        using var f = randn(batch, time, d, float64);
        return f / f.pow(2).sum([-1], keepdim: true).sqrt();
    }

    [TestMethod]
    [DataRow(7)]
    [DataRow(9)]
    public void DualFormMatchesTokenLoopForEveryChunkSize(int time)
    {
        const int batch = 2, d = 5;
        const double eta = 0.7;
        manual_seed(time);
        using var k = NormalizedKeys(batch, time, d);
        using var w0 = randn(batch, d, d, float64) * 0.3;   // a non-zero start state exercises P0 and E
        for (int chunk = 1; chunk <= time; chunk++)
        {
            using var start = new ReconstructTttState(w0.clone(), zeros(batch, d, d, float64), 0);
            var (pred, state) = ReconstructTttLayer.DualForm(k, start, eta, chunk);
            using (pred)
            using (state)
            {
                for (int b = 0; b < batch; b++)
                {
                    var expected = TokenLoop(k[b].data<double>().ToArray(), time, d, eta, chunk, w0[b].data<double>().ToArray());
                    var actual = pred[b].data<double>().ToArray();
                    for (int i = 0; i < expected.Length; i++)
                        Assert.AreEqual(expected[i], actual[i], 1e-12, $"chunk {chunk}, batch {b}, element {i}");
                }
                Assert.AreEqual(time % chunk, state.Position, $"chunk {chunk}");
            }
        }
    }

    // Gradient through the inner updates (no detach) against central finite differences, float64:
    // L = Σ R ⊙ Pred(normalize(F), W0) for unnormalized F (B, T, d) and start state W0.
    [TestMethod]
    [DataRow(1, 0)]
    [DataRow(3, 0)]
    [DataRow(7, 0)]
    [DataRow(3, 2)]   // starts mid-chunk with a carried gradient sum G
    public void GradientMatchesFiniteDifferences(int chunk, int startPosition)
    {
        const int batch = 1, time = 7, d = 3;
        const double eta = 0.4, h = 1e-6;
        manual_seed(11 + chunk);
        using var f = randn(batch, time, d, float64, requires_grad: true);
        using var w0 = (randn(batch, d, d, float64) * 0.5).requires_grad_(true);
        using var r = randn(batch, time, d, float64);
        using var g0 = startPosition == 0 ? zeros(batch, d, d, float64) : randn(batch, d, d, float64) * 0.3;

        double Loss(Tensor fIn, Tensor wIn)
        {
            using var scope = NewDisposeScope();
            var k = fIn / fIn.pow(2).sum([-1], keepdim: true).sqrt().add(1e-6);
            var (pred, state) = ReconstructTttLayer.DualForm(k, new ReconstructTttState(wIn, g0.alias(), startPosition), eta, chunk);
            return (pred * r).sum().item<double>() + 0 * state.Position;
        }

        using (var scope = NewDisposeScope())
        {
            var k = f / f.pow(2).sum([-1], keepdim: true).sqrt().add(1e-6);
            var (pred, _) = ReconstructTttLayer.DualForm(k, new ReconstructTttState(w0, g0.alias(), startPosition), eta, chunk);
            (pred * r).sum().backward();
        }
        foreach (var (param, name) in new[] { (f, "F"), (w0, "W0") })
        {
            var analytic = param.grad!.data<double>().ToArray();
            using var flat = param.detach().clone();
            var values = flat.data<double>().ToArray();
            for (int i = 0; i < values.Length; i++)
            {
                double Shifted(double delta)
                {
                    var copy = (double[])values.Clone();
                    copy[i] += delta;
                    using var t = tensor(copy, param.shape);
                    return name == "F" ? Loss(t, w0.detach()) : Loss(f.detach(), t);
                }
                double numeric = (Shifted(h) - Shifted(-h)) / (2 * h);
                Assert.AreEqual(numeric, analytic[i], 1e-6 * Math.Max(1, Math.Abs(numeric)), $"d/d{name}[{i}], chunk {chunk}");
            }
        }
    }
}
