namespace BitTtt.Inference.Engine;

/// <summary>
/// What one sequence owns: the TTT state and the position. The TTT state is, per layer, W at the chunk start and
/// the running gradient sum G for reconstruct (docs/model.md §3a), or S (one dh×dh map per head) and the
/// convolution tails (the last K−1 pre-convolution xq, xk, xv rows) for delta (docs/model.md §3b); the other
/// type's arrays are empty. The buffers a forward step works in belong to the step (<see cref="StepBatch"/>), so a
/// session decoded beside others carries only this; <see cref="Forward.Run"/> on a state alone uses a step of its
/// own, made on first use. Not thread-safe; one per session.
/// Shape key (docs/model.md): D = hidden, d = D/4, V = vocab, L = layers, H = delta heads, dh = head width, F = H·dh,
/// K = ttt_conv, Kt = max(K − 1, 0) tail rows.
/// </summary>
public sealed class SequenceState
{
    /// <summary>Tokens of one sequence per step: a longer prompt is fed in chunks of this many.</summary>
    public const int MaxBatch = 64;

    internal readonly float[][] W;        // (L) × (d, d)   reconstruct; empty for delta
    internal readonly float[][] G;        // (L) × (d, d)   reconstruct; empty for delta
    internal readonly float[][] S;        // (L) × (H, dh, dh) delta, each head's S by columns (DeltaKernels.UpdateAndRead); empty for reconstruct
    internal readonly float[][] ConvTail; // (L) × (3, Kt, F) delta: xq, xk, xv tails, oldest row first

    StepBatch? _ownBatch;
    float[]? _ownLogits;

    public SequenceState(InferenceWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Weights = weights;
        var c = weights.Config;
        bool delta = c.TttType == TttType.Delta;
        int d = c.TttDim, f = delta ? c.TttInnerDim : 0, dh = c.TttHeadDim, tail = TailRows(c);
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
    }

    public InferenceWeights Weights { get; }

    /// <summary>The step <see cref="Forward.Run"/> uses for this state alone (<see cref="MaxBatch"/> rows), made on first use.</summary>
    internal StepBatch OwnBatch => _ownBatch ??= new StepBatch(Weights, MaxBatch, 1);

    /// <summary>Where <see cref="Forward.Run"/> has the head write before copying to the caller's span (V).</summary>
    internal float[] OwnLogits => _ownLogits ??= new float[Weights.Config.VocabSize];

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

    /// <summary>Layer <paramref name="layer"/>'s delta state S, (H, dh, dh), each head by columns (memory files store rows).</summary>
    internal Span<float> StateS(int layer) => S[layer];

    /// <summary>Layer <paramref name="layer"/>'s conv tails, (3, Kt, F): xq, xk, xv, oldest row first.</summary>
    internal Span<float> StateConvTail(int layer) => ConvTail[layer];

    /// <summary>Copies another state of the same model (W and G, or S and the conv tails; position).</summary>
    public void CopyFrom(SequenceState other)
    {
        ArgumentNullException.ThrowIfNull(other);
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
