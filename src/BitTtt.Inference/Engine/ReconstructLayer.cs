using System.Numerics.Tensors;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// The weights of one reconstruct TTT sub-layer (docs/model.md §3a), field names as the safetensors names
/// (<c>ttt.down</c> → <see cref="Down"/>). Shape key (docs/model.md): D = hidden, d = D/4.
/// </summary>
internal sealed class ReconstructWeights
{
    internal required PackedTernaryMatrix Down { get; init; }    // (d, D)
    internal required PackedTernaryMatrix Up { get; init; }      // (D, d)

    internal long SizeInBytes => Down.SizeInBytes + Up.SizeInBytes;
}

/// <summary>
/// The reconstruct TTT sub-layer (docs/model.md §3a) for a batch of T tokens: the down projection as one GEMM over
/// the batch, then the chunked TTT rule token by token, then one up GEMM. Decode is the same code with T = 1, so a
/// prompt fed at once or token by token gives bit-identical logits.
/// Shape key (docs/model.md): T = time (tokens in the batch), D = hidden, d = D/4, b = ttt_chunk.
/// </summary>
internal static class ReconstructLayer
{
    /// <summary>Reads the T normed rows in <c>s.Normed</c>, advances layer <paramref name="layer"/>'s W and G, writes up(pred) to <c>s.SubLayerOut</c>.</summary>
    internal static void Run(SequenceState s, int layer, ReconstructWeights w, int T)
    {
        var c = s.Weights.Config;
        int d = c.TttDim, dim = c.HiddenDim;
        s.NormedInt8.Quantize(s.Normed.AsSpan(0, T * dim), T);
        var f = s.Features.AsSpan(0, T * d);
        TernaryKernels.Gemm(w.Down, s.NormedInt8, f);                                                      // (T, D) -> (T, d)
        for (int t = 0; t < T; t++)
            Token(s, layer, f.Slice(t * d, d), s.Predictions.AsSpan(t * d, d), s.Position + t, c.TttChunk, c.InnerLr);   // (d) per token
        s.PredictionsInt8.Quantize(s.Predictions.AsSpan(0, T * d), T);
        TernaryKernels.Gemm(w.Up, s.PredictionsInt8, s.SubLayerOut.AsSpan(0, T * dim));                   // (T, d) -> (T, D)
    }

    /// <summary>
    /// One token of the chunked TTT rule (docs/model.md §3a): k = f/(‖f‖+1e-6); pred = (W - ηG)k; G += (Wk - k)kᵀ;
    /// at the end of a chunk W -= ηG, G = 0. <paramref name="position"/> is the token's index in the sequence.
    /// </summary>
    static void Token(SequenceState s, int layer, ReadOnlySpan<float> f, Span<float> pred, long position, int chunk, float eta)
    {
        int d = f.Length;
        float[] w = s.W[layer], g = s.G[layer];                                                             // (d, d) each
        var k = s.UnitKey.AsSpan(0, d);
        TensorPrimitives.Divide(f, MathF.Sqrt(TensorPrimitives.SumOfSquares(f)) + 1e-6f, k);
        for (int r = 0; r < d; r++)
        {
            s.WKey[r] = TensorPrimitives.Dot(w.AsSpan(r * d, d), k);                                        // (W k)_r
            s.GKey[r] = TensorPrimitives.Dot(g.AsSpan(r * d, d), k);                                        // (G k)_r
        }
        for (int r = 0; r < d; r++)
        {
            pred[r] = s.WKey[r] - eta * s.GKey[r];
            float e = s.WKey[r] - k[r];                                                                     // residual of the inner loss
            TensorPrimitives.MultiplyAdd(k, e, g.AsSpan(r * d, d), g.AsSpan(r * d, d));                     // G += e kᵀ
        }
        if ((position + 1) % chunk == 0)
        {
            TensorPrimitives.MultiplyAdd(g, -eta, w, w);                                                    // W -= η G
            Array.Clear(g);
        }
    }
}
