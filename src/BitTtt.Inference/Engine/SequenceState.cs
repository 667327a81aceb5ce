using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// Everything one sequence owns: the TTT state and the position, plus scratch buffers sized once so a
/// token allocates nothing. The TTT state is, per layer, W at the chunk start and the running gradient
/// sum G for reconstruct (docs/model.md §3a), or S (one dh×dh map per head) and the convolution tails (the last
/// K−1 pre-convolution xq, xk, xv rows) for delta (docs/model.md §3b); the other type's arrays are empty.
/// Not thread-safe; one per session. Shape key (docs/model.md): T = time (tokens in a batch, ≤ <see cref="MaxBatch"/>),
/// D = hidden, d = D/4, I = intermediate, V = vocab, L = layers, H = delta heads, dh = head width, F = H·dh,
/// K = ttt_conv, Kt = max(K − 1, 0) tail rows.
/// </summary>
public sealed class SequenceState
{
    /// <summary>Prompt tokens processed per batched step.</summary>
    public const int MaxBatch = 32;

    internal readonly float[][] W;        // (L) × (d, d)   reconstruct; empty for delta
    internal readonly float[][] G;        // (L) × (d, d)   reconstruct; empty for delta
    internal readonly float[][] S;        // (L) × (H, dh, dh) delta; empty for reconstruct
    internal readonly float[][] ConvTail; // (L) × (3, Kt, F) delta: xq, xk, xv tails, oldest row first

    // Scratch, named by what it holds. Reconstruct and delta share the first block; the int8 copies are the
    // BitLinear inputs (one per activation width), each quantized once and read by every projection of that input.
    internal readonly float[] Hidden;       // (T, D) residual stream
    internal readonly float[] Normed;       // (T, D) rmsnorm(h): the TTT and SwiGLU sub-layers' input
    internal readonly float[] SubLayerOut;  // (T, D) the TTT or SwiGLU sub-layer's output, added to Hidden
    internal readonly float[] Gate;         // (T, I) gate_proj(m), then silu(gate)·up
    internal readonly float[] Up;           // (T, I) up_proj(m)
    internal readonly float[] FinalNormed;  // (D) rmsnorm(h, norm_f) of the token whose logits are wanted
    internal readonly float[] Logits;       // (V)
    internal readonly SplitGemv LmHead;     // FinalNormed -> Logits
    internal readonly Int8Activations NormedInt8;   // (T, D) int8 copy of Normed
    internal readonly Int8Activations SwiGluInt8;   // (T, I) int8 copy of silu(gate)·up, down_proj's input

    // Reconstruct scratch (allocated for both types, small; only reconstruct reads it).
    internal readonly float[] Features;     // (T, d) down(a)
    internal readonly float[] Predictions;  // (T, d) TTT predictions, up_proj's input
    internal readonly float[] UnitKey;      // (d) k = f / (‖f‖ + 1e-6) of one token
    internal readonly float[] WKey;         // (d) W k
    internal readonly float[] GKey;         // (d) G k
    internal readonly Int8Activations PredictionsInt8;  // (T, d) int8 copy of Predictions

    // Delta scratch (empty for reconstruct).
    internal readonly float[] QWindow, KWindow, VWindow; // (Kt + T, F) each: the layer's tail rows, then the batch's pre-convolution projections
    internal readonly float[] ConvQ, ConvK, ConvV;       // (F) one token after the convolution
    internal readonly float[] DeltaOut;                  // (T, F) concat_h(o_h) + v, o_proj's input
    internal readonly Int8Activations? DeltaOutInt8;     // (T, F) int8 copy of DeltaOut

    public SequenceState(InferenceWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Weights = weights;
        var c = weights.Config;
        int dim = c.HiddenDim, d = c.TttDim, inter = c.IntermediateDim;
        bool delta = c.TttType == TttType.Delta;
        int f = delta ? c.TttInnerDim : 0, dh = c.TttHeadDim, tail = TailRows(c);
        int wSize = delta ? 0 : d * d, sSize = delta ? c.TttHeads * dh * dh : 0;
        W = new float[c.NumLayers][];
        G = new float[c.NumLayers][];
        S = new float[c.NumLayers][];
        ConvTail = new float[c.NumLayers][];
        for (int i = 0; i < c.NumLayers; i++)
        {
            W[i] = new float[wSize];
            G[i] = new float[wSize];
            S[i] = new float[sSize];
            ConvTail[i] = new float[3 * tail * f];
        }
        Hidden = new float[MaxBatch * dim];
        Normed = new float[MaxBatch * dim];
        SubLayerOut = new float[MaxBatch * dim];
        Gate = new float[MaxBatch * inter];
        Up = new float[MaxBatch * inter];
        FinalNormed = new float[dim];
        Logits = new float[c.VocabSize];
        LmHead = weights.LmHeadInt8 is { } q ? new SplitGemv(q, FinalNormed, Logits) : new SplitGemv(weights.LmHead, FinalNormed, Logits);
        NormedInt8 = new Int8Activations(MaxBatch, dim);
        SwiGluInt8 = new Int8Activations(MaxBatch, inter);
        Features = new float[MaxBatch * d];
        Predictions = new float[MaxBatch * d];
        UnitKey = new float[d];
        WKey = new float[d];
        GKey = new float[d];
        PredictionsInt8 = new Int8Activations(MaxBatch, d);
        QWindow = new float[(tail + MaxBatch) * f];
        KWindow = new float[(tail + MaxBatch) * f];
        VWindow = new float[(tail + MaxBatch) * f];
        ConvQ = new float[f];
        ConvK = new float[f];
        ConvV = new float[f];
        DeltaOut = new float[MaxBatch * f];
        DeltaOutInt8 = delta ? new Int8Activations(MaxBatch, f) : null;
    }

    public InferenceWeights Weights { get; }

    /// <summary>Pre-convolution rows a delta layer carries to the next token: K − 1 (none without a convolution).</summary>
    internal static int TailRows(BitLlamaConfig c) => c.TttType == TttType.Delta ? Math.Max(c.TttConv - 1, 0) : 0;

    /// <summary>Tokens consumed since the last reset; <c>Position % ttt_chunk</c> is the place in the current TTT chunk.</summary>
    public long Position { get; internal set; }

    /// <summary>Back to the initial state: W = G = 0 (reconstruct) or S = 0 and zero conv tails (delta), position 0.</summary>
    public void Reset()
    {
        foreach (var w in W) Array.Clear(w);
        foreach (var g in G) Array.Clear(g);
        foreach (var x in S) Array.Clear(x);
        foreach (var x in ConvTail) Array.Clear(x);
        Position = 0;
    }

    /// <summary>Layer <paramref name="layer"/>'s W (chunk-start state), (d, d) row-major.</summary>
    internal Span<float> StateW(int layer) => W[layer];

    /// <summary>Layer <paramref name="layer"/>'s running inner-gradient sum G of the current chunk, (d, d).</summary>
    internal Span<float> StateG(int layer) => G[layer];

    /// <summary>Layer <paramref name="layer"/>'s delta state S, (H, dh, dh) row-major per head.</summary>
    internal Span<float> StateS(int layer) => S[layer];

    /// <summary>Layer <paramref name="layer"/>'s conv tails, (3, Kt, F): xq, xk, xv, oldest row first.</summary>
    internal Span<float> StateConvTail(int layer) => ConvTail[layer];

    /// <summary>Copies another state of the same model (W and G, or S and the conv tails; position).</summary>
    public void CopyFrom(SequenceState other)
    {
        if (!ReferenceEquals(other.Weights, Weights) && other.Weights.Fingerprint != Weights.Fingerprint)
            throw new ArgumentException("the state belongs to a different model", nameof(other));
        for (int i = 0; i < W.Length; i++)
        {
            other.W[i].CopyTo(W[i], 0);
            other.G[i].CopyTo(G[i], 0);
            other.S[i].CopyTo(S[i], 0);
            other.ConvTail[i].CopyTo(ConvTail[i], 0);
        }
        Position = other.Position;
    }
}
