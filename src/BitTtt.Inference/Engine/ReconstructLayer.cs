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
/// The reconstruct TTT sub-layer (docs/model.md §3a) for the rows of a step: the down projection as one GEMM over
/// every row, then the chunked TTT rule token by token per sequence, then one up GEMM. Row r of W and G needs only
/// row r and the token's unit key, so a sequence's rule splits into 16-row blocks that run on all cores; each row's
/// arithmetic is the same as in decode, so any batch and any split of a prompt give bit-identical logits.
/// Shape key (docs/model.md): N = rows of the step, D = hidden, d = D/4, b = ttt_chunk.
/// </summary>
internal static class ReconstructLayer
{
    /// <summary>Rows of W and G per work item.</summary>
    internal const int RowBlock = 16;

    /// <summary>Reads NormedInt8, advances layer <paramref name="layer"/>'s W and G of every sequence, writes up(pred) to SubLayerOut.</summary>
    internal static void Run(StepBatch b, WorkerTeam? team, int layer, ReconstructWeights w)
    {
        var c = b.Weights.Config;
        int d = c.TttDim;
        var jobs = b.Jobs;
        jobs.Gemm.Set(b.NormedInt8, w.Down, b.Features);                                      // (N, D) -> (N, d)
        Forward.RunGemm(team, jobs.Gemm);
        for (int r = 0; r < b.Rows; r++)                                                      // k = f / (‖f‖ + 1e-6) per row
        {
            var f = b.Features.AsSpan(r * d, d);
            TensorPrimitives.Divide(f, MathF.Sqrt(TensorPrimitives.SumOfSquares(f)) + 1e-6f, b.UnitKeys.AsSpan(r * d, d));
        }
        jobs.Reconstruct.Layer = layer;
        jobs.Reconstruct.BlocksPerSequence = (d + RowBlock - 1) / RowBlock;
        Forward.Parallel(team, jobs.Reconstruct, b.Sequences * jobs.Reconstruct.BlocksPerSequence, 3L * b.Rows * d * d);
        jobs.Quantize.Source = b.Predictions;
        jobs.Quantize.Target = b.PredictionsInt8!;
        Forward.QuantizeRows(team, jobs.Quantize, b.Rows);
        jobs.Gemm.Set(b.PredictionsInt8!, w.Up, b.SubLayerOut);                               // (N, d) -> (N, D)
        Forward.RunGemm(team, jobs.Gemm);
    }

    /// <summary>
    /// Rows [16·<paramref name="block"/>, 16·block + 16) of sequence <paramref name="s"/>'s W and G, token by token
    /// (docs/model.md §3a): pred = (W − ηG)k; G += (Wk − k)kᵀ; at the end of a chunk W −= ηG, G = 0.
    /// </summary>
    internal static void Rows(StepBatch b, int layer, int s, int block)
    {
        var c = b.Weights.Config;
        int d = c.TttDim, chunk = c.TttChunk, first = block * RowBlock, last = Math.Min(d, first + RowBlock);
        float eta = c.InnerLr;
        var state = b.State(s);
        float[] w = state.W[layer], g = state.G[layer];                                       // (d, d) each
        for (int t = 0; t < b.Count(s); t++)
        {
            int row = b.Start(s) + t;
            var k = b.UnitKeys.AsSpan(row * d, d);
            var pred = b.Predictions.AsSpan(row * d, d);
            bool chunkEnds = (state.Position + t + 1) % chunk == 0;
            for (int r = first; r < last; r++)
            {
                var wr = w.AsSpan(r * d, d);
                var gr = g.AsSpan(r * d, d);
                float wk = TensorPrimitives.Dot(wr, k), gk = TensorPrimitives.Dot(gr, k);       // (W k)_r, (G k)_r
                pred[r] = wk - eta * gk;
                TensorPrimitives.MultiplyAdd(k, wk - k[r], gr, gr);                            // G_r += (Wk − k)_r kᵀ
                if (!chunkEnds) continue;
                TensorPrimitives.MultiplyAdd(gr, -eta, wr, wr);                                // W_r −= η G_r
                gr.Clear();
            }
        }
    }
}
