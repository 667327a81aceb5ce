using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, T = time, D = hidden, d = D/4 (the inner width), b = ttt_chunk,
// Tc = tokens of one chunk (≤ b).

/// <summary>
/// "Reconstruct" test-time-training layer, the seed's (docs/model.md §3a), in its mini-batch dual form. Keys k
/// are the L2-normalized projections <c>down(a)</c>; the inner map W (d × d) learns to reconstruct them, one
/// update per chunk of b tokens, and within a chunk every token sees the inner gradients of the earlier
/// tokens of its chunk through the strict causal mask; <c>out = up(pred)</c>. No detach anywhere: the outer
/// gradient flows through every inner update into <c>down</c>, <c>up</c> and the layers before them.
/// </summary>
/// <remarks>Initialization: both projections like every BitLinear (uniform ±1/√fan_in); W starts at zero.</remarks>
public sealed class ReconstructTttLayer : TttMixer
{
    private readonly BitLinear down;          // (d, D)
    private readonly BitLinear up;            // (D, d)
    private readonly int chunk;
    private readonly double innerLr;

    public ReconstructTttLayer(string name, BitLlamaConfig config) : base(name)
    {
        config.Validate();
        chunk = config.TttChunk;
        innerLr = config.InnerLr;
        long dim = config.HiddenDim, inner = config.TttDim;
        down = new BitLinear(nameof(down), dim, inner);
        up = new BitLinear(nameof(up), inner, dim);
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
    /// Per chunk with rows K (Tc, d) and chunk-start W, carrying G (the gradient sum of the chunk's earlier
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
            long n = Math.Min(chunk - position, time - t);                       // Tc
            var kc = k.narrow(1, t, n);                                          // (B, Tc, d)
            var p0 = kc.matmul(w.transpose(1, 2));                               // (B, Tc, d)
            var e = p0 - kc;                                                     // (B, Tc, d)
            var mask = kc.matmul(kc.transpose(1, 2)).tril(-1);                   // (B, Tc, Tc)
            var pred = p0 - mask.matmul(e).mul(innerLr);                         // (B, Tc, d)
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
