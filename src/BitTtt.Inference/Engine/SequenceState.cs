using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// Everything one sequence owns: the TTT state (W at the chunk start and the running gradient sum G,
/// per layer; SPEC §3) and the position, plus scratch buffers sized once so a token allocates nothing.
/// Not thread-safe; one per session. Shape key: T = tokens in a batch (≤ <see cref="MaxBatch"/>),
/// D = hidden, d = D/4, I = intermediate, V = vocab.
/// </summary>
public sealed class SequenceState
{
    /// <summary>Prompt tokens processed per batched step.</summary>
    public const int MaxBatch = 32;

    internal readonly float[][] W;        // per layer (d, d)
    internal readonly float[][] G;        // per layer (d, d)

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

    public SequenceState(InferenceWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Weights = weights;
        var c = weights.Config;
        int dim = c.HiddenDim, d = c.TttDim, inter = c.IntermediateDim;
        W = new float[c.NumLayers][];
        G = new float[c.NumLayers][];
        for (int i = 0; i < c.NumLayers; i++) { W[i] = new float[d * d]; G[i] = new float[d * d]; }
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

    /// <summary>Tokens consumed since the last reset; <c>Position % ttt_chunk</c> is the place in the current TTT chunk.</summary>
    public long Position { get; internal set; }

    /// <summary>Back to the initial state: W = 0, G = 0, position 0.</summary>
    public void Reset()
    {
        foreach (var w in W) Array.Clear(w);
        foreach (var g in G) Array.Clear(g);
        Position = 0;
    }

    /// <summary>Layer <paramref name="layer"/>'s W (chunk-start state), (d, d) row-major.</summary>
    internal Span<float> StateW(int layer) => W[layer];

    /// <summary>Layer <paramref name="layer"/>'s running inner-gradient sum G of the current chunk, (d, d).</summary>
    internal Span<float> StateG(int layer) => G[layer];

    /// <summary>Copies another state of the same model (W, G, position).</summary>
    public void CopyFrom(SequenceState other)
    {
        if (!ReferenceEquals(other.Weights, Weights) && other.Weights.Fingerprint != Weights.Fingerprint)
            throw new ArgumentException("the state belongs to a different model", nameof(other));
        for (int i = 0; i < W.Length; i++)
        {
            other.W[i].CopyTo(W[i], 0);
            other.G[i].CopyTo(G[i], 0);
        }
        Position = other.Position;
    }
}
