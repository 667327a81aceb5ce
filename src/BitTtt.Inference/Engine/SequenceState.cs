using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// Everything one sequence owns: the TTT state and the position, plus scratch buffers sized once so a
/// token allocates nothing. The TTT state is, per layer, W at the chunk start and the running gradient
/// sum G for reconstruct (docs/model.md §3a), or S (one dh×dh map per head) and the convolution tails (the last
/// K−1 pre-convolution xq, xk, xv rows) for delta (docs/model.md §3b); the other type's arrays are empty.
/// Not thread-safe; one per session. Shape key: T = tokens in a batch (≤ <see cref="MaxBatch"/>),
/// D = hidden, d = D/4, I = intermediate, V = vocab, H = delta heads, dh = head width, F = H·dh,
/// K = ttt_conv, Kt = max(K − 1, 0) tail rows.
/// </summary>
public sealed class SequenceState
{
    /// <summary>Prompt tokens processed per batched step.</summary>
    public const int MaxBatch = 32;

    internal readonly float[][] W;        // per layer (d, d)   reconstruct; empty for delta
    internal readonly float[][] G;        // per layer (d, d)   reconstruct; empty for delta
    internal readonly float[][] S;        // per layer (H, dh, dh) delta; empty for reconstruct
    internal readonly float[][] ConvTail; // per layer (3, Kt, F) delta: xq, xk, xv tails, oldest row first

    internal readonly float[] H;          // (T, D) residual stream
    internal readonly float[] A;          // (T, D) normed input
    internal readonly float[] F;          // (T, d) down(a)
    internal readonly float[] Pred;       // (T, d) TTT predictions
    internal readonly float[] OutD;       // (T, D) sub-layer output
    internal readonly float[] Gate;       // (T, I)
    internal readonly float[] Up;         // (T, I)
    internal readonly float[] K;          // (d)
    internal readonly float[] P0;         // (d)
    internal readonly float[] Gk;         // (d)
    internal readonly float[] Err;        // (d)
    internal readonly float[] Final;      // (D)
    internal readonly float[] Logits;     // (V)
    internal readonly SplitGemv Head;
    internal readonly Int8Activations QD; // (T, D)
    internal readonly Int8Activations Qd; // (T, d)
    internal readonly Int8Activations QI; // (T, I)

    // Delta scratch (empty for reconstruct).
    internal readonly float[] Xq, Xk, Xv; // (Kt + T, F) each: the layer's tail rows, then the batch's projections
    internal readonly float[] Qh, Kh, Vh; // (F) one token after the convolution
    internal readonly float[] O;          // (T, F) concat_h(o_h) + v
    internal readonly float[] Beta;       // (H)
    internal readonly Int8Activations? QF; // (T, F)

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
        Xq = new float[(tail + MaxBatch) * f];
        Xk = new float[(tail + MaxBatch) * f];
        Xv = new float[(tail + MaxBatch) * f];
        Qh = new float[f];
        Kh = new float[f];
        Vh = new float[f];
        O = new float[MaxBatch * f];
        Beta = new float[delta ? c.TttHeads : 0];
        QF = delta ? new Int8Activations(MaxBatch, f) : null;
        H = new float[MaxBatch * dim];
        A = new float[MaxBatch * dim];
        F = new float[MaxBatch * d];
        Pred = new float[MaxBatch * d];
        OutD = new float[MaxBatch * dim];
        Gate = new float[MaxBatch * inter];
        Up = new float[MaxBatch * inter];
        K = new float[d];
        P0 = new float[d];
        Gk = new float[d];
        Err = new float[d];
        Final = new float[dim];
        Logits = new float[c.VocabSize];
        Head = weights.LmHeadInt8 is { } q ? new SplitGemv(q, Final, Logits) : new SplitGemv(weights.LmHead, Final, Logits);
        QD = new Int8Activations(MaxBatch, dim);
        Qd = new Int8Activations(MaxBatch, d);
        QI = new Int8Activations(MaxBatch, inter);
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

    /// <summary>Layer <paramref name="layer"/>'s conv tails, (3, K−1, F): xq, xk, xv, oldest row first.</summary>
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
