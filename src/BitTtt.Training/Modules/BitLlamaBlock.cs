using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, T = time, D = hidden.

/// <summary>One BitLlama block (docs/model.md §3): <c>h = h + ttt(norm1(h)); h = h + mlp(norm2(h))</c>.</summary>
public sealed class BitLlamaBlock : nn.Module<Tensor, Tensor>
{
    private readonly RMSNorm norm1; // (D)
    private readonly TttMixer ttt;    // reconstruct (docs/model.md §3a) or delta (§3b), by config.TttType
    private readonly RMSNorm norm2; // (D)
    private readonly SwiGLU mlp;

    public BitLlamaBlock(string name, BitLlamaConfig config) : base(name)
    {
        norm1 = new RMSNorm(nameof(norm1), config.HiddenDim, config.RmsNormEps);
        ttt = TttMixer.Create(nameof(ttt), config);
        norm2 = new RMSNorm(nameof(norm2), config.HiddenDim, config.RmsNormEps);
        mlp = new SwiGLU(nameof(mlp), config.HiddenDim, config.IntermediateDim);
        RegisterComponents();
    }

    /// <summary>(B, T, D) -> (B, T, D), from a zero TTT state.</summary>
    public override Tensor forward(Tensor h)
    {
        var (output, state) = Forward(h, null);
        state.Dispose();
        return output;
    }

    /// <summary>(B, T, D) -> (B, T, D), continuing the TTT state.</summary>
    public (Tensor Output, TttLayerState State) Forward(Tensor h, TttLayerState? state)
    {
        using var scope = NewDisposeScope();
        var (mixed, next) = ttt.Forward(norm1.forward(h), state);               // (B, T, D)
        h = h + mixed;
        h = h + mlp.forward(norm2.forward(h));                                  // (B, T, D)
        return (h.MoveToOuterDisposeScope(), next.MoveToOuterDisposeScope());
    }
}
