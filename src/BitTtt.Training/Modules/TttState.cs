using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, d = D/4 (the reconstruct inner width), H = delta heads, dh = delta head width,
// F = H·dh, K = delta conv kernel, Kt = max(K − 1, 0) tail rows.

/// <summary>
/// The TTT state of one layer for a batch of sequences (docs/model.md §3: the only per-sequence state). The
/// layer type decides what it holds: <see cref="ReconstructTttState"/> (docs/model.md §3a) or <see cref="DeltaTttState"/> (docs/model.md §3b).
/// </summary>
public abstract class TttLayerState : IDisposable
{
    /// <summary>Every tensor of the state (what <see cref="Dispose"/> frees and <see cref="MoveToOuterDisposeScope"/> moves).</summary>
    public abstract IReadOnlyList<Tensor> Tensors { get; }

    /// <summary>A detached copy (for truncated backpropagation between segments or for inference).</summary>
    public abstract TttLayerState Detach();

    /// <summary>Moves every tensor of the state out of the current dispose scope; returns this.</summary>
    public TttLayerState MoveToOuterDisposeScope()
    {
        foreach (var t in Tensors) t.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose()
    {
        foreach (var t in Tensors) t.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// The state of a "reconstruct" layer, exactly the generation state of docs/model.md §3a:
/// <see cref="W"/> is the inner weight at the start of the current chunk, <see cref="G"/> the running
/// sum of inner gradients <c>Σ (W k - k) kᵀ</c> of the <see cref="Position"/> tokens already seen in
/// that chunk (zero when <see cref="Position"/> is 0). A segment that ends mid-chunk hands this triple
/// to the next segment, which continues the same chunk, so segmented and whole forward passes agree.
/// </summary>
public sealed class ReconstructTttState : TttLayerState
{
    public ReconstructTttState(Tensor w, Tensor g, int position)
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

    public override IReadOnlyList<Tensor> Tensors => [W, G];

    public override TttLayerState Detach() => new ReconstructTttState(W.detach().clone(), G.detach().clone(), Position);
}

/// <summary>
/// The state of a "delta" layer (docs/model.md §3b): the inner maps S of every head and the last K−1
/// pre-convolution rows of xq, xk, xv, so the next segment's convolution sees the tokens before it.
/// The delta rule has no chunk position: a chunk is only a block size of the parallel form.
/// </summary>
public sealed class DeltaTttState : TttLayerState
{
    public DeltaTttState(Tensor s, Tensor convTail)
    {
        S = s;
        ConvTail = convTail;
    }

    /// <summary>(B, H, dh, dh): the inner map of each head, read as <c>S·k</c>.</summary>
    public Tensor S { get; }

    /// <summary>(B, Kt, 3F): the last Kt rows of <c>[xq | xk | xv]</c> before the convolution, oldest first (zeros before position 0).</summary>
    public Tensor ConvTail { get; }

    public override IReadOnlyList<Tensor> Tensors => [S, ConvTail];

    public override TttLayerState Detach() => new DeltaTttState(S.detach().clone(), ConvTail.detach().clone());
}

/// <summary>The TTT state of every layer of a <see cref="BitLlamaModel"/> (docs/model.md §3: the only per-sequence state).</summary>
public sealed class TttState : IDisposable
{
    public TttState(IReadOnlyList<TttLayerState> layers) => Layers = layers;

    public IReadOnlyList<TttLayerState> Layers { get; }

    public TttState Detach() => new(Layers.Select(l => l.Detach()).ToArray());

    /// <summary>Moves every layer's tensors out of the current dispose scope; returns this.</summary>
    public TttState MoveToOuterDisposeScope()
    {
        foreach (var layer in Layers) layer.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
    }
}
