using BitTtt.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

/// <summary>
/// The whole model against a plain scalar transcription of docs/model.md §3 (double precision, integer BitLinear,
/// TTT by the token-by-token generation rule), so a drift anywhere in the TorchSharp modules shows up.
/// </summary>
[TestClass]
public sealed class SpecReferenceTests
{
    sealed class Weights(BitLlamaModel model)
    {
        readonly Dictionary<string, (double[] Data, long[] Shape)> _w = model.named_parameters()
            .ToDictionary(p => p.name, p => (p.parameter.detach().to_type(ScalarType.Float64).data<double>().ToArray(), p.parameter.shape));

        public double[] this[string name] => _w[name].Data;

        public long Rows(string name) => _w[name].Shape[0];
    }

    static double[] RmsNorm(double[] x, double[] w, double eps)
    {
        double ms = x.Sum(v => v * v) / x.Length;
        double r = Math.Sqrt(ms + eps);
        return x.Select((v, i) => v / r * w[i]).ToArray();
    }

    // y = (xq · Wqᵀ) / (a · s) with integer accumulation, docs/model.md §3.
    static double[] BitLinear(double[] x, double[] w, int outF)
    {
        int inF = x.Length;
        double s = 1 / Math.Max(w.Average(Math.Abs), 1e-5);
        double a = 127 / Math.Max(x.Max(Math.Abs), 1e-5);
        var xq = x.Select(v => (long)Math.Clamp(Math.Round(v * a, MidpointRounding.ToEven), -128, 127)).ToArray();
        var y = new double[outF];
        for (int o = 0; o < outF; o++)
        {
            long acc = 0;
            for (int i = 0; i < inF; i++) acc += xq[i] * (long)Math.Clamp(Math.Round(w[o * inF + i] * s, MidpointRounding.ToEven), -1, 1);
            y[o] = acc / (a * s);
        }
        return y;
    }

    static double[] Linear(double[] x, double[] w, int outF) =>
        Enumerable.Range(0, outF).Select(o => Enumerable.Range(0, x.Length).Sum(i => w[o * x.Length + i] * x[i])).ToArray();

    // docs/model.md §3a, one token of one layer's TTT: k = f / (‖f‖ + 1e-6) with f = down(a); pred = (W − ηG) k;
    // G += (W k − k) kᵀ; at the end of a chunk W −= ηG, G = 0; the output is up(pred).
    sealed class ReconstructLayerState(BitLlamaConfig c)
    {
        public readonly double[] W = new double[c.TttDim * c.TttDim], G = new double[c.TttDim * c.TttDim];
        public int Position;
    }

    static double[] ReconstructTtt(BitLlamaConfig c, Weights w, string p, double[] a, ReconstructLayerState st)
    {
        int d = c.TttDim;
        double eta = c.InnerLr;
        var f = BitLinear(a, w[p + "ttt.down.weight"], d);
        double norm = Math.Sqrt(f.Sum(v => v * v)) + 1e-6;
        var k = f.Select(v => v / norm).ToArray();
        var pred = new double[d];
        var e = new double[d];
        for (int i = 0; i < d; i++)
        {
            double wk = 0, gk = 0;
            for (int j = 0; j < d; j++) { wk += st.W[i * d + j] * k[j]; gk += st.G[i * d + j] * k[j]; }
            pred[i] = wk - eta * gk;
            e[i] = wk - k[i];
        }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) st.G[i * d + j] += e[i] * k[j];
        if (++st.Position == c.TttChunk)
        {
            for (int i = 0; i < d * d; i++) { st.W[i] -= eta * st.G[i]; st.G[i] = 0; }
            st.Position = 0;
        }
        return BitLinear(pred, w[p + "ttt.up.weight"], c.HiddenDim);
    }

    // docs/model.md §3b, one token: conv over the kept pre-conv rows, per-head normalize, update S then read it.
    sealed class DeltaLayerState(BitLlamaConfig c)
    {
        public readonly double[][] S = Enumerable.Range(0, c.TttHeads).Select(_ => new double[c.TttHeadDim * c.TttHeadDim]).ToArray();
        public readonly List<double[]>[] History = [[], [], []];   // pre-conv xq, xk, xv of every token so far
    }

    static double[] DeltaTtt(BitLlamaConfig c, Weights w, string p, double[] a, DeltaLayerState st)
    {
        int heads = c.TttHeads, dh = c.TttHeadDim, f = heads * dh, kernel = c.TttConv;
        string[] proj = ["ttt.q_proj.weight", "ttt.k_proj.weight", "ttt.v_proj.weight"], conv = ["ttt.q_conv.weight", "ttt.k_conv.weight", "ttt.v_conv.weight"];
        var qkv = new double[3][];
        for (int m = 0; m < 3; m++)
        {
            var x = BitLinear(a, w[p + proj[m]], f);
            st.History[m].Add(x);
            if (kernel == 0) { qkv[m] = x; continue; }
            int t = st.History[m].Count - 1;
            qkv[m] = new double[f];
            for (int ch = 0; ch < f; ch++)
                for (int j = 0; j < kernel; j++)
                {
                    int s = t - kernel + 1 + j;
                    if (s >= 0) qkv[m][ch] += w[p + conv[m]][ch * kernel + j] * st.History[m][s][ch];
                }
        }
        var (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        var mixed = new double[f];
        for (int h = 0; h < heads; h++)
        {
            var qh = q.AsSpan(h * dh, dh).ToArray();
            var kh = k.AsSpan(h * dh, dh).ToArray();
            double qn = Math.Sqrt(qh.Sum(x => x * x)) + 1e-6, kn = Math.Sqrt(kh.Sum(x => x * x)) + 1e-6;
            for (int i = 0; i < dh; i++) { qh[i] /= qn; kh[i] /= kn; }
            double logit = w[p + "ttt.beta_proj.bias"][h];
            for (int i = 0; i < a.Length; i++) logit += w[p + "ttt.beta_proj.weight"][h * a.Length + i] * a[i];
            double beta = c.InnerLr * (1 / (1 + Math.Exp(-logit)));
            var s = st.S[h];
            var e = new double[dh];
            for (int i = 0; i < dh; i++)
            {
                for (int j = 0; j < dh; j++) e[i] += s[i * dh + j] * kh[j];
                e[i] -= v[h * dh + i];
            }
            for (int i = 0; i < dh; i++)
                for (int j = 0; j < dh; j++) s[i * dh + j] -= beta * e[i] * kh[j];
            for (int i = 0; i < dh; i++)
            {
                for (int j = 0; j < dh; j++) mixed[h * dh + i] += s[i * dh + j] * qh[j];
                mixed[h * dh + i] += v[h * dh + i];
            }
        }
        return BitLinear(mixed, w[p + "ttt.o_proj.weight"], c.HiddenDim);
    }

    /// <summary>docs/model.md §3 token by token: each layer's TTT (§3a or §3b, by the config's type) keeps its own state.</summary>
    static double[][] ReferenceLogits(BitLlamaConfig c, Weights w, int[] tokens)
    {
        int dim = c.HiddenDim, inter = c.IntermediateDim;
        var ttt = Enumerable.Range(0, c.NumLayers).Select(l => TttLayer(c, w, $"layers.{l}.")).ToArray();
        var result = new double[tokens.Length][];
        for (int t = 0; t < tokens.Length; t++)
        {
            var h = w["embed.weight"].AsSpan(tokens[t] * dim, dim).ToArray();
            for (int l = 0; l < c.NumLayers; l++)
            {
                string p = $"layers.{l}.";
                var o = ttt[l](RmsNorm(h, w[p + "norm1.weight"], c.RmsNormEps));
                for (int i = 0; i < dim; i++) h[i] += o[i];
                var m = RmsNorm(h, w[p + "norm2.weight"], c.RmsNormEps);
                var gate = BitLinear(m, w[p + "mlp.gate_proj.weight"], inter);
                var up = BitLinear(m, w[p + "mlp.up_proj.weight"], inter);
                var act = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                var down = BitLinear(act, w[p + "mlp.down_proj.weight"], dim);
                for (int i = 0; i < dim; i++) h[i] += down[i];
            }
            result[t] = Linear(RmsNorm(h, w["norm_f.weight"], c.RmsNormEps), w["lm_head.weight"], c.VocabSize);
        }
        return result;
    }

    /// <summary>One layer's TTT with its state: a ↦ ttt(a), token by token.</summary>
    static Func<double[], double[]> TttLayer(BitLlamaConfig c, Weights w, string p)
    {
        if (c.TttType == TttType.Delta)
        {
            var delta = new DeltaLayerState(c);
            return a => DeltaTtt(c, w, p, a, delta);
        }
        var reconstruct = new ReconstructLayerState(c);
        return a => ReconstructTtt(c, w, p, a, reconstruct);
    }

    public static IEnumerable<object[]> Models() =>
    [
        TttCases.Row(Model(TttType.Reconstruct, chunk: 1), 9),
        TttCases.Row(Model(TttType.Reconstruct, chunk: 3), 11),
        TttCases.Row(Model(TttType.Reconstruct, chunk: 16), 7),
        TttCases.Row(Model(TttType.Delta, chunk: 1, conv: 4), 9),
        TttCases.Row(Model(TttType.Delta, chunk: 3, conv: 4), 11),
        TttCases.Row(Model(TttType.Delta, chunk: 16, conv: 0), 7),
        TttCases.Row(Model(TttType.Delta, chunk: 4, conv: 2), 9),
    ];

    static BitLlamaConfig Model(TttType type, int chunk, int conv = 0)
    {
        var c = new BitLlamaConfig { VocabSize = 23, HiddenDim = 12, NumLayers = 2, InnerLr = 0.6f, IntermediateDim = 20, TttChunk = chunk, ContextLen = 16 };
        return type == TttType.Delta ? c with { InnerLr = 1.3f, TttType = TttType.Delta, TttHeads = 2, TttHeadDim = 5, TttConv = conv } : c;
    }

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void ModelLogitsMatchTheScalarSpecTranscription(BitLlamaConfig config, int time)
    {
        manual_seed(config.TttType == TttType.Delta ? 60 + config.TttConv + config.TttChunk : 40 + config.TttChunk);
        using var model = new BitLlamaModel(config);
        model.to(float64);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.Contains("conv", StringComparison.Ordinal) || name.Contains("beta_proj", StringComparison.Ordinal))
                    p.copy_(randn_like(p) * 0.7);   // not the identity convolution and zero bias of a new delta model
        var tokens = Enumerable.Range(0, time).Select(i => (i * 7 + 3) % 23).ToArray();
        using var ids = tensor(tokens.Select(i => (long)i).ToArray(), [1, time]);
        using var logits = model.forward(ids);
        var actual = logits.data<double>().ToArray();
        var expected = ReferenceLogits(config, new Weights(model), tokens);
        for (int t = 0; t < time; t++)
            for (int v = 0; v < config.VocabSize; v++)
                Assert.AreEqual(expected[t][v], actual[t * config.VocabSize + v], 1e-9, $"{TttCases.Name(config)}: position {t}, logit {v}");
    }
}
