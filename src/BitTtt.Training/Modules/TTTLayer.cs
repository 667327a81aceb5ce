using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key: B = batch, T = time, D = hidden, d = TTT width (D/4), n = tokens of one chunk (≤ ttt_chunk).

/// <summary>
/// Test-time-training layer, mini-batch dual form (docs/model.md §3). Keys k are the L2-normalized projections
/// <c>down(a)</c>; within a chunk every token sees the inner gradients of the earlier tokens of its
/// chunk through the strict causal mask, and the inner weight W is updated once per chunk. No detach
/// anywhere: the outer gradient flows through every inner update into <c>down</c>, <c>up</c> and the
/// layers before them.
/// </summary>
public sealed class TTTLayer : TttMixer
{
    private readonly BitLinear down; // (d, D)
    private readonly BitLinear up;   // (D, d)
    private readonly double innerLr;
    private readonly int chunk;

    public TTTLayer(string name, long dim, double innerLr, int chunk) : base(name)
    {
        if (dim % 4 != 0) throw new ArgumentException($"hidden_dim must be a multiple of 4, got {dim}", nameof(dim));
        if (chunk <= 0) throw new ArgumentException($"ttt_chunk must be positive, got {chunk}", nameof(chunk));
        down = new BitLinear(nameof(down), dim, dim / 4);
        up = new BitLinear(nameof(up), dim / 4, dim);
        this.innerLr = innerLr;
        this.chunk = chunk;
        RegisterComponents();
    }

    /// <summary>(B, T, D) -> (B, T, D); continues from <paramref name="state"/> (zero when null) and returns the state after the last token.</summary>
    public override (Tensor Output, TttLayerState State) Forward(Tensor a, TttLayerState? state)
    {
        using var scope = NewDisposeScope();
        var f = down.forward(a);                                                 // (B, T, d)
        var k = f / f.pow(2).sum([-1], keepdim: true).sqrt().add(1e-6);          // (B, T, d)
        var (pred, next) = DualForm(k, ExpectState<ReconstructTttState>(state), innerLr, chunk);   // (B, T, d)
        var output = up.forward(pred);                                           // (B, T, D)
        return (output.MoveToOuterDisposeScope(), MoveOut(next));
    }

    /// <summary>
    /// The chunked dual form over normalized keys k (B, T, d), starting from <paramref name="state"/>.
    /// Per chunk with rows K and chunk-start W, carrying G (the gradient sum of the chunk's earlier
    /// tokens from a previous segment; zero at a chunk start):
    /// <c>E = K·Wᵀ - K</c>, <c>Pred = K·Wᵀ - η·K·Gᵀ - η·strict_tril(K·Kᵀ)·E</c>, <c>G' = G + Eᵀ·K</c>,
    /// and when the chunk is complete <c>W' = W - η·G'</c>, <c>G' = 0</c>.
    /// With G = 0 this is the model contract's (docs/model.md) <c>Pred = P0 - η·strict_tril(K·Kᵀ)·E</c>, <c>W' = W - η·Eᵀ·K</c>.
    /// </summary>
    internal static (Tensor Pred, ReconstructTttState State) DualForm(Tensor k, ReconstructTttState? state, double innerLr, int chunk)
    {
        using var scope = NewDisposeScope();
        long batch = k.shape[0], time = k.shape[1], d = k.shape[2];
        var w = state?.W ?? zeros(batch, d, d, k.dtype, k.device);             // (B, d, d)
        var g = state?.G ?? zeros(batch, d, d, k.dtype, k.device);             // (B, d, d)
        int position = state?.Position ?? 0;
        if (state is not null && (position < 0 || position >= chunk))
            throw new ArgumentException($"TTT state position {position} is outside [0, {chunk})", nameof(state));
        long[] expected = [batch, d, d];
        if (!w.shape.SequenceEqual(expected) || !g.shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"TTT state W/G must have shape [{string.Join(", ", expected)}] for this input, found [{string.Join(", ", w.shape)}] and [{string.Join(", ", g.shape)}]", nameof(state));

        var preds = new List<Tensor>();
        for (long t = 0; t < time;)
        {
            long n = Math.Min(chunk - position, time - t);
            var kc = k.narrow(1, t, n);                                          // (B, n, d)
            var p0 = kc.matmul(w.transpose(1, 2));                               // (B, n, d)
            var e = p0 - kc;                                                     // (B, n, d)
            var mask = kc.matmul(kc.transpose(1, 2)).tril(-1);                   // (B, n, n)
            var pred = p0 - mask.matmul(e).mul(innerLr);                         // (B, n, d)
            var gradSum = e.transpose(1, 2).matmul(kc);                          // (B, d, d)
            if (position > 0)
            {
                pred = pred - kc.matmul(g.transpose(1, 2)).mul(innerLr);
                gradSum = g + gradSum;
            }
            preds.Add(pred);
            position += (int)n;
            t += n;
            if (position == chunk)
            {
                w = w - gradSum.mul(innerLr);
                g = zeros_like(gradSum);
                position = 0;
            }
            else
            {
                g = gradSum;
            }
        }
        var all = preds.Count == 1 ? preds[0] : cat(preds, 1);                   // (B, T, d)
        if (preds.Count == 0) all = zeros(batch, 0, d, k.dtype, k.device);
        // A fresh tensor for state the caller passed in and we did not change, so disposing the old
        // state never disposes the new one.
        if (state is not null && ReferenceEquals(w, state.W)) w = w.alias();
        if (state is not null && ReferenceEquals(g, state.G)) g = g.alias();
        return (all.MoveToOuterDisposeScope(), MoveOut(new ReconstructTttState(w, g, position)));
    }

    static T MoveOut<T>(T state) where T : TttLayerState
    {
        state.MoveToOuterDisposeScope();
        return state;
    }
}
