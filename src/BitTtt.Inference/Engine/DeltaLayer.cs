using System.Numerics.Tensors;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// The weights of one delta TTT sub-layer (docs/model.md §3b), field names as the safetensors names
/// (<c>ttt.q_proj</c> → <see cref="QProj"/>). The conv weights are held transposed, (K, F), so each tap is
/// one vector pass over the channels. Shape key (docs/model.md): D = hidden, H = heads, F = H·dh, K = ttt_conv.
/// </summary>
internal sealed class DeltaWeights
{
    internal required PackedTernaryMatrix QProj { get; init; }   // (F, D)
    internal required PackedTernaryMatrix KProj { get; init; }   // (F, D)
    internal required PackedTernaryMatrix VProj { get; init; }   // (F, D)
    internal required PackedTernaryMatrix OProj { get; init; }   // (D, F)
    internal required float[] BetaWeight { get; init; }          // (H, D) full precision
    internal required float[] BetaBias { get; init; }            // (H)
    internal required float[] QConvT { get; init; }              // (K, F) = q_conv.weight (F, K) transposed; empty when K = 0
    internal required float[] KConvT { get; init; }              // (K, F)
    internal required float[] VConvT { get; init; }              // (K, F)

    /// <summary>(F, K) → (K, F).</summary>
    internal static float[] Transpose(float[] w, int rows, int cols)
    {
        var t = new float[w.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
        return t;
    }

    internal long SizeInBytes =>
        QProj.SizeInBytes + KProj.SizeInBytes + VProj.SizeInBytes + OProj.SizeInBytes +
        4L * (BetaWeight.Length + BetaBias.Length + QConvT.Length + KConvT.Length + VConvT.Length);
}

/// <summary>
/// The delta-rule TTT sub-layer (docs/model.md §3b) for a batch of T tokens: the q/k/v projections as three
/// GEMMs over the batch (one int8 copy of a), then the convolution and the per-head recurrence token by
/// token, then one o_proj GEMM. Decode is the same code with T = 1, so a prompt fed at once or token by
/// token gives bit-identical logits.
/// Shape key (docs/model.md): T = time (tokens in the batch), D = hidden, H = heads, dh = head width, F = H·dh,
/// K = ttt_conv, Kt = max(K − 1, 0) tail rows.
/// </summary>
internal static class DeltaLayer
{
    /// <summary>Reads the T normed rows in <c>s.Normed</c>, advances layer <paramref name="layer"/>'s S and conv tails, writes the output to <c>s.SubLayerOut</c>.</summary>
    internal static void Run(SequenceState s, int layer, DeltaWeights w, int T)
    {
        var c = s.Weights.Config;
        int dim = c.HiddenDim, f = c.TttInnerDim, tail = SequenceState.TailRows(c);
        var tails = s.ConvTail[layer];
        s.NormedInt8.Quantize(s.Normed.AsSpan(0, T * dim), T);                             // one int8 copy of a for q, k, v
        Project(s.NormedInt8, w.QProj, tails.AsSpan(0, tail * f), s.QWindow, T, f);       // (T, D) -> (Kt + T, F)
        Project(s.NormedInt8, w.KProj, tails.AsSpan(tail * f, tail * f), s.KWindow, T, f);
        Project(s.NormedInt8, w.VProj, tails.AsSpan(2 * tail * f, tail * f), s.VWindow, T, f);
        for (int t = 0; t < T; t++)
            Token(s, layer, w, t, s.DeltaOut.AsSpan(t * f, f));                            // (F) per token
        KeepTail(s.QWindow, tails.AsSpan(0, tail * f), T, f);                              // last Kt pre-conv rows
        KeepTail(s.KWindow, tails.AsSpan(tail * f, tail * f), T, f);
        KeepTail(s.VWindow, tails.AsSpan(2 * tail * f, tail * f), T, f);
        s.DeltaOutInt8!.Quantize(s.DeltaOut.AsSpan(0, T * f), T);
        TernaryKernels.Gemm(w.OProj, s.DeltaOutInt8, s.SubLayerOut.AsSpan(0, T * dim));    // (T, F) -> (T, D)
    }

    /// <summary>x = [tail rows ; proj(a) for the batch]: (Kt + T, F), so token t's window is rows t .. t + K − 1.</summary>
    static void Project(Int8Activations a, PackedTernaryMatrix proj, ReadOnlySpan<float> tail, float[] x, int T, int f)
    {
        tail.CopyTo(x);
        TernaryKernels.Gemm(proj, a, x.AsSpan(tail.Length, T * f));
    }

    static void KeepTail(float[] x, Span<float> tail, int T, int f) => x.AsSpan(T * f, tail.Length).CopyTo(tail);

    /// <summary>
    /// Token t of the batch: convolve q, k, v; per head normalize q and k, β = inner_lr·σ(w_β·a + b),
    /// S −= β(Sk − v)kᵀ, o = S q; writes concat_h(o_h) + v to <paramref name="o"/> (F).
    /// </summary>
    static void Token(SequenceState s, int layer, DeltaWeights w, int t, Span<float> o)
    {
        var c = s.Weights.Config;
        int dim = c.HiddenDim, f = c.TttInnerDim, dh = c.TttHeadDim, taps = c.TttConv;
        Convolve(s.QWindow, w.QConvT, t, taps, f, s.ConvQ);                                // (K, F) window -> (F)
        Convolve(s.KWindow, w.KConvT, t, taps, f, s.ConvK);
        Convolve(s.VWindow, w.VConvT, t, taps, f, s.ConvV);
        var a = s.Normed.AsSpan(t * dim, dim);                                             // full-precision normed input
        var state = s.S[layer];
        for (int h = 0; h < c.TttHeads; h++)
        {
            var q = s.ConvQ.AsSpan(h * dh, dh);
            var k = s.ConvK.AsSpan(h * dh, dh);
            DeltaKernels.L2Normalize(q);
            DeltaKernels.L2Normalize(k);
            float logit = TensorPrimitives.Dot(w.BetaWeight.AsSpan(h * dim, dim), a) + w.BetaBias[h];
            float beta = c.InnerLr / (1f + MathF.Exp(-logit));
            DeltaKernels.UpdateAndRead(state.AsSpan(h * dh * dh, dh * dh), k, s.ConvV.AsSpan(h * dh, dh), q, beta, o.Slice(h * dh, dh));
        }
        TensorPrimitives.Add(o, s.ConvV, o);                                               // the value skip: o + v
    }

    /// <summary>Token t's K-row window of x (rows t .. t + K − 1) through the conv; K = 0 passes row t through.</summary>
    static void Convolve(float[] x, float[] wT, int t, int taps, int f, float[] y)
    {
        if (taps == 0)
        {
            x.AsSpan(t * f, f).CopyTo(y);
            return;
        }
        DeltaKernels.CausalConv(x.AsSpan(t * f, taps * f), wT, taps, y);
    }
}
