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
/// The delta-rule TTT sub-layer (docs/model.md §3b) for the rows of a step: the q/k/v projections as GEMMs over
/// every row of every sequence (one int8 copy of a), then, per sequence and head, the convolution and the
/// recurrence token by token, then one o_proj GEMM. A token's arithmetic is the same whatever else is in the step
/// and however a prompt is split, so a prompt fed at once, token by token, or beside other sessions gives
/// bit-identical logits. The token loop stays because a chunked (WY) form does the same multiply-adds per token
/// (about 3·dh² per head for the state products, plus Tc·dh for the chunk's own triangle) and would only round
/// differently; a step instead runs the (sequence, head) pairs on all cores.
/// Shape key (docs/model.md): N = rows of the step, T = one sequence's rows, D = hidden, H = heads, dh = head width,
/// F = H·dh, K = ttt_conv, Kt = max(K − 1, 0) tail rows.
/// </summary>
internal static class DeltaLayer
{
    /// <summary>Reads Normed/NormedInt8, advances layer <paramref name="layer"/>'s S and conv tails of every sequence, writes SubLayerOut.</summary>
    internal static void Run(StepBatch b, WorkerTeam? team, int layer, DeltaWeights w)
    {
        var c = b.Weights.Config;
        var jobs = b.Jobs;
        jobs.Gemm.Set(b.NormedInt8, w.QProj, b.Q, w.KProj, b.K, w.VProj, b.V);            // (N, D) -> (N, F) x 3
        Forward.RunGemm(team, jobs.Gemm);
        jobs.Delta.Layer = layer;
        jobs.Delta.Weights = w;
        jobs.Delta.Prepare = true;                                                            // per row: conv, normalize, β
        jobs.Delta.Items = Forward.RowItems(team, b.Rows);
        Forward.Parallel(team, jobs.Delta, jobs.Delta.Items, (long)b.Rows * c.TttInnerDim * 16);
        jobs.Delta.Prepare = false;                                                           // per (sequence, head): the rule
        long work = 3L * b.Rows * c.TttHeads * c.TttHeadDim * c.TttHeadDim;
        Forward.Parallel(team, jobs.Delta, b.Sequences * c.TttHeads, work);
        for (int s = 0; s < b.Sequences; s++) KeepTails(b, layer, s);                        // last Kt pre-conv rows
        jobs.Quantize.Source = b.DeltaOut;
        jobs.Quantize.Target = b.DeltaOutInt8!;
        Forward.QuantizeRows(team, jobs.Quantize, b.Rows);
        jobs.Gemm.Set(b.DeltaOutInt8!, w.OProj, b.SubLayerOut);                              // (N, F) -> (N, D)
        Forward.RunGemm(team, jobs.Gemm);
    }

    /// <summary>
    /// Rows [<paramref name="start"/>, <paramref name="end"/>) of the step: the causal convolution of q, k and v over all F
    /// channels at once (window rows from the sequence's earlier rows or its tail), q and k normalized per head, and
    /// β_h = inner_lr·σ(w_β·a + b) for every head: everything of a token that does not depend on S.
    /// </summary>
    internal static void Prepare(StepBatch b, int layer, DeltaWeights w, int start, int end)
    {
        var c = b.Weights.Config;
        int dim = c.HiddenDim, f = c.TttInnerDim, dh = c.TttHeadDim, heads = c.TttHeads, taps = c.TttConv, tail = SequenceState.TailRows(c);
        for (int row = start; row < end; row++)
        {
            int s = b.SequenceOf(row), t = row - b.Start(s);
            var tails = b.State(s).ConvTail[layer];                                           // (3, Kt, F)
            var q = b.ConvQ.AsSpan(row * f, f);
            var k = b.ConvK.AsSpan(row * f, f);
            Convolve(b.Q, tails.AsSpan(0, tail * f), w.QConvT, b.Start(s), t, taps, f, q);    // (K, F) window -> (F)
            Convolve(b.K, tails.AsSpan(tail * f, tail * f), w.KConvT, b.Start(s), t, taps, f, k);
            Convolve(b.V, tails.AsSpan(2 * tail * f, tail * f), w.VConvT, b.Start(s), t, taps, f, b.ConvV.AsSpan(row * f, f));
            var a = b.Normed.AsSpan(row * dim, dim);                                          // full-precision normed input
            for (int h = 0; h < heads; h++)
            {
                DeltaKernels.L2Normalize(q.Slice(h * dh, dh));
                DeltaKernels.L2Normalize(k.Slice(h * dh, dh));
                float logit = TensorPrimitives.Dot(w.BetaWeight.AsSpan(h * dim, dim), a) + w.BetaBias[h];
                b.Beta[row * heads + h] = c.InnerLr / (1f + MathF.Exp(-logit));
            }
        }
    }

    /// <summary>
    /// Sequence <paramref name="s"/>, head <paramref name="h"/>, token by token: S −= β(Sk − v)kᵀ, o = S q with the
    /// prepared q, k, v and β; DeltaOut = o + v.
    /// </summary>
    internal static void Head(StepBatch b, int layer, int s, int h)
    {
        var c = b.Weights.Config;
        int f = c.TttInnerDim, dh = c.TttHeadDim, channel = h * dh;
        var map = b.State(s).S[layer].AsSpan(h * dh * dh, dh * dh);                          // (dh, dh) by columns
        for (int row = b.Start(s), end = row + b.Count(s); row < end; row++)
        {
            var v = b.ConvV.AsSpan(row * f + channel, dh);
            var o = b.DeltaOut.AsSpan(row * f + channel, dh);
            DeltaKernels.UpdateAndRead(map, b.ConvK.AsSpan(row * f + channel, dh), v, b.ConvQ.AsSpan(row * f + channel, dh), b.Beta[row * c.TttHeads + h], o);
            TensorPrimitives.Add(o, v, o);                                                    // the value skip: o + v
        }
    }

    /// <summary>
    /// Token t's causal convolution over all channels: window rows t − K + 1 .. t of the sequence, those before its
    /// first row taken from the tail. K = 0 passes row t through.
    /// </summary>
    static void Convolve(float[] x, ReadOnlySpan<float> tail, float[] wT, int start, int t, int taps, int f, Span<float> y)
    {
        int tailRows = tail.Length / Math.Max(f, 1);
        if (taps == 0)
        {
            x.AsSpan((start + t) * f, f).CopyTo(y);
            return;
        }
        for (int j = 0; j < taps; j++)
        {
            int rel = t - taps + 1 + j;
            var source = rel < 0 ? tail.Slice((tailRows + rel) * f, f) : x.AsSpan((start + rel) * f, f);
            var weight = wT.AsSpan(j * f, f);
            if (j == 0) TensorPrimitives.Multiply(source, weight, y);
            else TensorPrimitives.MultiplyAdd(source, weight, y, y);
        }
    }

    /// <summary>The sequence's last Kt pre-convolution rows (old tail, then its rows of the step) become its new tails.</summary>
    static void KeepTails(StepBatch b, int layer, int s)
    {
        var c = b.Weights.Config;
        int f = c.TttInnerDim, tail = SequenceState.TailRows(c);
        if (tail == 0) return;
        var tails = b.State(s).ConvTail[layer];
        KeepTail(b.Q, tails.AsSpan(0, tail * f), b.Start(s), b.Count(s), f);
        KeepTail(b.K, tails.AsSpan(tail * f, tail * f), b.Start(s), b.Count(s), f);
        KeepTail(b.V, tails.AsSpan(2 * tail * f, tail * f), b.Start(s), b.Count(s), f);
    }

    static void KeepTail(float[] x, Span<float> tail, int start, int count, int f)
    {
        int rows = tail.Length / f, fromRows = Math.Min(count, rows);
        if (fromRows < rows) tail[(fromRows * f)..].CopyTo(tail);                              // keep the newest old rows
        x.AsSpan((start + count - fromRows) * f, fromRows * f).CopyTo(tail[((rows - fromRows) * f)..]);
    }
}
