using System.Numerics.Tensors;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// docs/model.md §3 for one sequence. Tokens are processed in batches of up to <see cref="SequenceState.MaxBatch"/>:
/// every BitLinear runs as one GEMM over the batch (weights unpacked once per batch), while the TTT
/// recurrence (<see cref="ReconstructLayer"/>, <see cref="DeltaLayer"/>) runs token by token inside the batch
/// exactly as in decode, so a prompt fed at once or token by token gives bit-identical logits.
/// Shape key (docs/model.md): T = time (tokens in a batch), D = hidden, I = intermediate, V = vocab, L = layers.
/// </summary>
public static class Forward
{
    /// <summary>Largest number of tokens accepted in one call (the TTT state itself has no length limit).</summary>
    public const int MaxTokensPerCall = 1 << 20;

    /// <summary>
    /// Feeds <paramref name="tokens"/> through the model, advancing <paramref name="state"/>; writes the
    /// logits of the last token to <paramref name="logits"/> (V) unless it is empty.
    /// </summary>
    public static void Run(SequenceState state, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        var c = state.Weights.Config;
        if (tokens.Length > MaxTokensPerCall)
            throw new ArgumentException($"{tokens.Length} tokens in one call exceed the limit of {MaxTokensPerCall}; feed them in parts", nameof(tokens));
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)c.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[i]} at position {i} is outside the vocabulary [0, {c.VocabSize})");
        if (!logits.IsEmpty && logits.Length != c.VocabSize)
            throw new ArgumentException($"logits buffer holds {logits.Length} values, the vocabulary has {c.VocabSize}", nameof(logits));
        if (tokens.IsEmpty)
        {
            if (!logits.IsEmpty) throw new ArgumentException("no tokens to compute logits for", nameof(tokens));
            return;
        }
        for (int start = 0; start < tokens.Length; start += SequenceState.MaxBatch)
        {
            var batch = tokens.Slice(start, Math.Min(SequenceState.MaxBatch, tokens.Length - start));
            RunBatch(state, batch);
            if (start + batch.Length == tokens.Length && !logits.IsEmpty)
                LmHead(state, batch.Length - 1, logits);
        }
    }

    static void RunBatch(SequenceState s, ReadOnlySpan<int> tokens)
    {
        var wts = s.Weights;
        var c = wts.Config;
        int T = tokens.Length, dim = c.HiddenDim;
        var h = s.Hidden.AsSpan(0, T * dim);
        for (int t = 0; t < T; t++) wts.Embed.AsSpan(tokens[t] * dim, dim).CopyTo(h.Slice(t * dim, dim));   // (T) -> (T, D)
        for (int i = 0; i < c.NumLayers; i++)
        {
            var l = wts.Layers[i];
            var a = s.Normed.AsSpan(0, T * dim);
            var o = s.SubLayerOut.AsSpan(0, T * dim);
            RmsNorm(h, l.Norm1, c.RmsNormEps, a, T);                       // (T, D)
            Ttt(s, i, l, T);                                               // (T, D) -> (T, D) in SubLayerOut
            TensorPrimitives.Add(h, o, h);                                 // h = h + ttt(norm1(h))
            RmsNorm(h, l.Norm2, c.RmsNormEps, a, T);                       // (T, D)
            Mlp(s, l, T);                                                  // (T, D) -> (T, D) in SubLayerOut
            TensorPrimitives.Add(h, o, h);                                 // h = h + mlp(norm2(h))
        }
        s.Position += T;
    }

    /// <summary>SwiGLU for the T normed rows in <c>s.Normed</c>: down(silu(gate(m)) · up(m)), written to <c>s.SubLayerOut</c>.</summary>
    static void Mlp(SequenceState s, LayerWeights l, int T)
    {
        int dim = s.Weights.Config.HiddenDim, inter = s.Weights.Config.IntermediateDim;
        s.NormedInt8.Quantize(s.Normed.AsSpan(0, T * dim), T);             // one int8 copy of m for both projections
        var gate = s.Gate.AsSpan(0, T * inter);
        var up = s.Up.AsSpan(0, T * inter);
        TernaryKernels.Gemm(l.GateProj, s.NormedInt8, gate);               // (T, D) -> (T, I)
        TernaryKernels.Gemm(l.UpProj, s.NormedInt8, up);                   // (T, D) -> (T, I)
        SiluMul(gate, up);                                                 // gate = silu(gate) · up
        s.SwiGluInt8.Quantize(gate, T);
        TernaryKernels.Gemm(l.DownProj, s.SwiGluInt8, s.SubLayerOut.AsSpan(0, T * dim)); // (T, I) -> (T, D)
    }

    /// <summary>TTT sub-layer for the T normed rows in <c>s.Normed</c>, written to <c>s.SubLayerOut</c>: delta (docs/model.md §3b) or reconstruct (§3a).</summary>
    static void Ttt(SequenceState s, int layer, LayerWeights l, int T)
    {
        if (l.Delta is { } delta) DeltaLayer.Run(s, layer, delta, T);
        else ReconstructLayer.Run(s, layer, l.Reconstruct!, T);
    }

    static void LmHead(SequenceState s, int t, Span<float> logits)
    {
        var c = s.Weights.Config;
        int dim = c.HiddenDim;
        RmsNorm(s.Hidden.AsSpan(t * dim, dim), s.Weights.NormF, c.RmsNormEps, s.FinalNormed, 1);          // (D)
        s.LmHead.Run();                                                                                    // (D) -> (V) into s.Logits
        s.Logits.CopyTo(logits);
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> like <see cref="Run"/> and hands the logits (V) after every token to
    /// <paramref name="onLogits"/> with the token's index (the buffer is reused: copy what you keep). For scoring text.
    /// </summary>
    public static void RunEach(SequenceState state, ReadOnlySpan<int> tokens, Action<int, float[]> onLogits)
    {
        ArgumentNullException.ThrowIfNull(onLogits);
        var logits = new float[state.Weights.Config.VocabSize];
        for (int start = 0; start < tokens.Length; start += SequenceState.MaxBatch)
        {
            var batch = tokens.Slice(start, Math.Min(SequenceState.MaxBatch, tokens.Length - start));
            Run(state, batch, default);
            for (int t = 0; t < batch.Length; t++)   // the batch's hidden rows stay in state.H until the next batch
            {
                LmHead(state, t, logits);
                onLogits(start + t, logits);
            }
        }
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> like <see cref="Run"/> and writes each token's final hidden state,
    /// rmsnorm(h, norm_f) — the vector the LM head reads (docs/model.md §3) — to <paramref name="hidden"/> (T, D);
    /// the logits of the last token go to <paramref name="logits"/> (V) unless it is empty.
    /// </summary>
    public static void RunHidden(SequenceState state, ReadOnlySpan<int> tokens, Span<float> hidden, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        int dim = state.Weights.Config.HiddenDim;
        if (hidden.Length != tokens.Length * dim)
            throw new ArgumentException($"hidden buffer holds {hidden.Length} values, expected {tokens.Length} tokens x {dim}", nameof(hidden));
        for (int start = 0; start < tokens.Length; start += SequenceState.MaxBatch)
        {
            var batch = tokens.Slice(start, Math.Min(SequenceState.MaxBatch, tokens.Length - start));
            bool last = start + batch.Length == tokens.Length;
            Run(state, batch, last ? logits : default);   // the batch's hidden rows stay in state.Hidden until the next batch
            RmsNorm(state.Hidden.AsSpan(0, batch.Length * dim), state.Weights.NormF, state.Weights.Config.RmsNormEps,
                hidden.Slice(start * dim, batch.Length * dim), batch.Length);                              // (T, D)
        }
    }

    /// <summary>y = W x for a full-precision (R, C) matrix, split across two cores when large (see <see cref="SplitGemv"/>).</summary>
    public static void FullPrecisionGemv(float[] matrix, float[] x, float[] y)
    {
        if (matrix.LongLength != (long)x.Length * y.Length)
            throw new ArgumentException($"matrix has {matrix.LongLength} values, expected {y.Length} x {x.Length}", nameof(matrix));
        new SplitGemv(matrix, x, y).Run();
    }

    /// <summary>Row-wise x / sqrt(mean(x²) + eps) * w over T rows of length D.</summary>
    internal static void RmsNorm(ReadOnlySpan<float> x, float[] weight, float eps, Span<float> y, int rows)
    {
        int dim = weight.Length;
        for (int t = 0; t < rows; t++)
        {
            var xr = x.Slice(t * dim, dim);
            var yr = y.Slice(t * dim, dim);
            float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / dim + eps);
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>gate = silu(gate) · up = σ(gate) · gate · up, in three vectorized passes; up is overwritten.</summary>
    static void SiluMul(Span<float> gate, Span<float> up)
    {
        TensorPrimitives.Multiply(gate, up, up);        // g·u
        TensorPrimitives.Sigmoid(gate, gate);           // σ(g)
        TensorPrimitives.Multiply(gate, up, gate);      // σ(g)·g·u
    }
}
