using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key: B = batch, d = TTT width (D/4).

/// <summary>
/// The TTT state of one layer for a batch of sequences, exactly the generation state of SPEC §3:
/// <see cref="W"/> is the inner weight at the start of the current chunk, <see cref="G"/> the running
/// sum of inner gradients <c>Σ (W k - k) kᵀ</c> of the <see cref="Position"/> tokens already seen in
/// that chunk (zero when <see cref="Position"/> is 0). A segment that ends mid-chunk hands this triple
/// to the next segment, which continues the same chunk, so segmented and whole forward passes agree.
/// </summary>
public sealed class TttLayerState : IDisposable
{
    public TttLayerState(Tensor w, Tensor g, int position)
    {
        W = w;
        G = g;
        Position = position;
    }

    /// <summary>(B, d, d): inner weight at the current chunk start.</summary>
    public Tensor W { get; }

    /// <summary>(B, d, d): sum of inner gradients in the current chunk so far.</summary>
    public Tensor G { get; }

    /// <summary>Tokens already processed in the current chunk, 0 ≤ Position &lt; ttt_chunk.</summary>
    public int Position { get; }

    /// <summary>A detached copy (for truncated backpropagation between segments or for inference).</summary>
    public TttLayerState Detach() => new(W.detach().clone(), G.detach().clone(), Position);

    public void Dispose()
    {
        W.Dispose();
        G.Dispose();
    }
}

/// <summary>The TTT state of every layer of a <see cref="BitLlamaModel"/> (SPEC §3: the only per-sequence state).</summary>
public sealed class TttState : IDisposable
{
    public TttState(IReadOnlyList<TttLayerState> layers) => Layers = layers;

    public IReadOnlyList<TttLayerState> Layers { get; }

    public TttState Detach() => new(Layers.Select(l => l.Detach()).ToArray());

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
    }
}
