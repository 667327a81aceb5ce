namespace BitTtt.Inference.Tests;

/// <summary>
/// docs/model.md §3 as plain loops over a whole sequence, with the reconstruct TTT layer in its chunked dual form
/// (P0 = K·Wᵀ, E = P0 − K, Pred = P0 − η·strict_tril(K·Kᵀ)·E, W' = W − η·Eᵀ·K) and the delta layer as
/// docs/model.md §3b writes it (conv over the whole sequence, then the per-head recurrence in double).
/// Deliberately slow and obvious: the fast engine is compared against it. Returns logits for every position.
/// </summary>
internal static class ReferenceForward
{
    public static float[][] Logits(BitLlamaConfig c, Dictionary<string, float[]> w, int[] tokens)
    {
        int D = c.HiddenDim, V = c.VocabSize;
        return FinalHidden(c, w, tokens).Select(n =>
        {
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

    /// <summary>rmsnorm(h, norm_f) for every position: the LM head's input.</summary>
    public static float[][] FinalHidden(BitLlamaConfig c, Dictionary<string, float[]> w, int[] tokens)
    {
        int T = tokens.Length, D = c.HiddenDim, I = c.IntermediateDim;
        var h = new float[T][];
        for (int t = 0; t < T; t++) h[t] = w["embed.weight"].AsSpan(tokens[t] * D, D).ToArray();
        for (int i = 0; i < c.NumLayers; i++)
        {
            string L(string s) => $"layers.{i}.{s}";
            var a = h.Select(x => RmsNorm(x, w[L("norm1.weight")], c.RmsNormEps)).ToArray();
            var ttt = c.TttType == TttType.Delta ? Delta(c, w, i, a) : Reconstruct(c, w, i, a);
            for (int t = 0; t < T; t++)
            {
                var o = ttt[t];
                for (int j = 0; j < D; j++) h[t][j] += o[j];
                var m = RmsNorm(h[t], w[L("norm2.weight")], c.RmsNormEps);
                var g = BitLinear(m, w[L("mlp.gate_proj.weight")], I, D);
                var u = BitLinear(m, w[L("mlp.up_proj.weight")], I, D);
                var z = g.Select((x, j) => x / (1 + MathF.Exp(-x)) * u[j]).ToArray();
                var dn = BitLinear(z, w[L("mlp.down_proj.weight")], D, I);
                for (int j = 0; j < D; j++) h[t][j] += dn[j];
            }
        }
        return h.Select(x => RmsNorm(x, w["norm_f.weight"], c.RmsNormEps)).ToArray();
    }

    static float[][] Reconstruct(BitLlamaConfig c, Dictionary<string, float[]> w, int i, float[][] a)
    {
        int D = c.HiddenDim, d = c.TttDim;
        var f = a.Select(x => BitLinear(x, w[$"layers.{i}.ttt.down.weight"], d, D)).ToArray();
        var k = f.Select(x => { float n = MathF.Sqrt(x.Sum(v => v * v)); return x.Select(v => v / (n + 1e-6f)).ToArray(); }).ToArray();
        var pred = TttDual(k, c.TttChunk, c.InnerLr, d);
        return pred.Select(p => BitLinear(p, w[$"layers.{i}.ttt.up.weight"], D, d)).ToArray();
    }

    /// <summary>docs/model.md §3b for one layer over the whole sequence: (T, D) normed inputs -> (T, D) outputs.</summary>
    static float[][] Delta(BitLlamaConfig c, Dictionary<string, float[]> w, int i, float[][] a)
    {
        int T = a.Length, D = c.HiddenDim, H = c.TttHeads, dh = c.TttHeadDim, F = H * dh, K = c.TttConv;
        string L(string s) => $"layers.{i}.ttt.{s}";
        float[][] Conv(float[][] x, string name)
        {
            if (K == 0) return x;
            var cw = w[L(name)];   // (F, K)
            return Enumerable.Range(0, T).Select(t =>
            {
                var y = new float[F];
                for (int ch = 0; ch < F; ch++)
                {
                    double acc = 0;
                    for (int j = 0; j < K; j++)
                    {
                        int src = t - K + 1 + j;   // before position 0: zero
                        if (src >= 0) acc += (double)cw[ch * K + j] * x[src][ch];
                    }
                    y[ch] = (float)acc;
                }
                return y;
            }).ToArray();
        }
        var q = Conv(a.Select(x => BitLinear(x, w[L("q_proj.weight")], F, D)).ToArray(), "q_conv.weight");
        var k = Conv(a.Select(x => BitLinear(x, w[L("k_proj.weight")], F, D)).ToArray(), "k_conv.weight");
        var v = Conv(a.Select(x => BitLinear(x, w[L("v_proj.weight")], F, D)).ToArray(), "v_conv.weight");
        var S = new double[H, dh, dh];
        var output = new float[T][];
        for (int t = 0; t < T; t++)
        {
            var ov = new float[F];
            for (int h = 0; h < H; h++)
            {
                double[] Unit(float[] x)
                {
                    double n = Math.Sqrt(Enumerable.Range(0, dh).Sum(j => (double)x[h * dh + j] * x[h * dh + j]));
                    return Enumerable.Range(0, dh).Select(j => x[h * dh + j] / (n + 1e-6)).ToArray();
                }
                double[] qh = Unit(q[t]), kh = Unit(k[t]);
                double logit = w[L("beta_proj.bias")][h];
                for (int j = 0; j < D; j++) logit += (double)w[L("beta_proj.weight")][h * D + j] * a[t][j];
                double beta = c.InnerLr / (1 + Math.Exp(-logit));
                var e = new double[dh];
                for (int r = 0; r < dh; r++)
                {
                    double sk = 0;
                    for (int j = 0; j < dh; j++) sk += S[h, r, j] * kh[j];
                    e[r] = sk - v[t][h * dh + r];
                }
                for (int r = 0; r < dh; r++)
                    for (int j = 0; j < dh; j++) S[h, r, j] -= beta * e[r] * kh[j];   // update first
                for (int r = 0; r < dh; r++)
                {
                    double o = 0;
                    for (int j = 0; j < dh; j++) o += S[h, r, j] * qh[j];        // then read with the updated S
                    ov[h * dh + r] = (float)(o + v[t][h * dh + r]);               // value skip
                }
            }
            output[t] = BitLinear(ov, w[L("o_proj.weight")], D, F);
        }
        return output;
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

    /// <summary>y = (xq · Wqᵀ) / (a·s), docs/model.md §3, with weight and activation quantizers written out again.</summary>
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
