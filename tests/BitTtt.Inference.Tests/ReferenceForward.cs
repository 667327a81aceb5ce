namespace BitTtt.Inference.Tests;

/// <summary>
/// SPEC §3 as plain loops over a whole sequence, with the TTT layer in its chunked dual form
/// (P0 = K·Wᵀ, E = P0 − K, Pred = P0 − η·strict_tril(K·Kᵀ)·E, W' = W − η·Eᵀ·K). Deliberately slow and
/// obvious: the fast engine is compared against it. Returns logits for every position.
/// </summary>
internal static class ReferenceForward
{
    public static float[][] Logits(BitLlamaConfig c, Dictionary<string, float[]> w, int[] tokens)
    {
        int T = tokens.Length, D = c.HiddenDim, d = c.TttDim, I = c.IntermediateDim, V = c.VocabSize;
        var h = new float[T][];
        for (int t = 0; t < T; t++) h[t] = w["embed.weight"].AsSpan(tokens[t] * D, D).ToArray();
        for (int i = 0; i < c.NumLayers; i++)
        {
            string L(string s) => $"layers.{i}.{s}";
            var a = h.Select(x => RmsNorm(x, w[L("norm1.weight")], c.RmsNormEps)).ToArray();
            var f = a.Select(x => BitLinear(x, w[L("ttt.down.weight")], d, D)).ToArray();
            var k = f.Select(x => { float n = MathF.Sqrt(x.Sum(v => v * v)); return x.Select(v => v / (n + 1e-6f)).ToArray(); }).ToArray();
            var pred = TttDual(k, c.TttChunk, c.InnerLr, d);
            for (int t = 0; t < T; t++)
            {
                var o = BitLinear(pred[t], w[L("ttt.up.weight")], D, d);
                for (int j = 0; j < D; j++) h[t][j] += o[j];
                var m = RmsNorm(h[t], w[L("norm2.weight")], c.RmsNormEps);
                var g = BitLinear(m, w[L("mlp.gate_proj.weight")], I, D);
                var u = BitLinear(m, w[L("mlp.up_proj.weight")], I, D);
                var z = g.Select((x, j) => x / (1 + MathF.Exp(-x)) * u[j]).ToArray();
                var dn = BitLinear(z, w[L("mlp.down_proj.weight")], D, I);
                for (int j = 0; j < D; j++) h[t][j] += dn[j];
            }
        }
        return h.Select(x =>
        {
            var n = RmsNorm(x, w["norm_f.weight"], c.RmsNormEps);
            var logits = new float[V];
            for (int v = 0; v < V; v++)
            {
                double s = 0;
                for (int j = 0; j < D; j++) s += (double)w["lm_head.weight"][v * D + j] * n[j];
                logits[v] = (float)s;
            }
            return logits;
        }).ToArray();
    }

    static float[][] TttDual(float[][] k, int b, float eta, int d)
    {
        var W = new double[d, d];
        var pred = new float[k.Length][];
        for (int start = 0; start < k.Length; start += b)
        {
            int n = Math.Min(b, k.Length - start);
            var p0 = new double[n, d];
            var e = new double[n, d];
            for (int t = 0; t < n; t++)
                for (int r = 0; r < d; r++)
                {
                    double s = 0;
                    for (int j = 0; j < d; j++) s += W[r, j] * k[start + t][j];
                    p0[t, r] = s;
                    e[t, r] = s - k[start + t][r];
                }
            for (int t = 0; t < n; t++)
            {
                pred[start + t] = new float[d];
                for (int r = 0; r < d; r++)
                {
                    double corr = 0;
                    for (int j = 0; j < t; j++)   // strict lower triangle
                    {
                        double kk = 0;
                        for (int q = 0; q < d; q++) kk += (double)k[start + t][q] * k[start + j][q];
                        corr += kk * e[j, r];
                    }
                    pred[start + t][r] = (float)(p0[t, r] - eta * corr);
                }
            }
            for (int r = 0; r < d; r++)
                for (int j = 0; j < d; j++)
                {
                    double s = 0;
                    for (int t = 0; t < n; t++) s += e[t, r] * k[start + t][j];
                    W[r, j] -= eta * s;
                }
        }
        return pred;
    }

    static float[] RmsNorm(float[] x, float[] w, float eps)
    {
        double ss = 0;
        foreach (var v in x) ss += (double)v * v;
        float inv = (float)(1 / Math.Sqrt(ss / x.Length + eps));
        return x.Select((v, j) => v * inv * w[j]).ToArray();
    }

    /// <summary>y = (xq · Wqᵀ) / (a·s), SPEC §3, with weight and activation quantizers written out again.</summary>
    static float[] BitLinear(float[] x, float[] weight, int rows, int cols)
    {
        double meanAbs = weight.Sum(v => (double)Math.Abs(v)) / weight.Length;
        float s = 1f / MathF.Max((float)meanAbs, 1e-5f);
        float a = 127f / MathF.Max(x.Max(MathF.Abs), 1e-5f);
        var xq = x.Select(v => (int)Math.Clamp(MathF.Round(v * a), -128, 127)).ToArray();
        var y = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            long acc = 0;
            for (int j = 0; j < cols; j++) acc += (long)Math.Clamp(MathF.Round(weight[r * cols + j] * s), -1, 1) * xq[j];
            y[r] = acc / (a * s);
        }
        return y;
    }
}
