using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, T = time, D = hidden.

/// <summary>
/// The token mixer of a block: a TTT layer of either type, <see cref="ReconstructTttLayer"/> (docs/model.md §3a) or
/// <see cref="DeltaTttLayer"/> (§3b), both built from the config alone, with its per-sequence state carried between calls.
/// </summary>
public abstract class TttMixer : nn.Module<Tensor, Tensor>
{
    protected TttMixer(string name) : base(name)
    {
    }

    /// <summary>The layer for <paramref name="config"/>'s <c>ttt_type</c>, named <paramref name="name"/>.</summary>
    public static TttMixer Create(string name, BitLlamaConfig config) => config.TttType switch
    {
        TttType.Delta => new DeltaTttLayer(name, config),
        _ => new ReconstructTttLayer(name, config),
    };

    /// <summary>(B, T, D) -> (B, T, D), from a zero state.</summary>
    public override Tensor forward(Tensor a)
    {
        var (output, state) = Forward(a, null);
        state.Dispose();
        return output;
    }

    /// <summary>(B, T, D) -> (B, T, D); continues from <paramref name="state"/> (zero when null) and returns the state after the last token.</summary>
    public abstract (Tensor Output, TttLayerState State) Forward(Tensor a, TttLayerState? state);

    /// <summary>The state as this layer's type, or an <see cref="ArgumentException"/> naming both types.</summary>
    protected static T? ExpectState<T>(TttLayerState? state) where T : TttLayerState => state switch
    {
        null => null,
        T typed => typed,
        _ => throw new ArgumentException($"TTT state is a {state.GetType().Name}, this layer needs a {typeof(T).Name} (state from a model of another ttt_type?)", nameof(state)),
    };
}
