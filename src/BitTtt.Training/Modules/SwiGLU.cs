using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): * = any leading dimensions (B, T), D = hidden, I = intermediate.

/// <summary>The block's MLP (docs/model.md §3): <c>down_proj(silu(gate_proj(m)) * up_proj(m))</c>, all three BitLinear.</summary>
public sealed class SwiGLU : nn.Module<Tensor, Tensor>
{
    private readonly BitLinear gate_proj; // (I, D)
    private readonly BitLinear up_proj;   // (I, D)
    private readonly BitLinear down_proj; // (D, I)

    public SwiGLU(string name, long dim, long intermediate) : base(name)
    {
        gate_proj = new BitLinear(nameof(gate_proj), dim, intermediate);
        up_proj = new BitLinear(nameof(up_proj), dim, intermediate);
        down_proj = new BitLinear(nameof(down_proj), intermediate, dim);
        RegisterComponents();
    }

    /// <summary>(*, D) -> (*, D).</summary>
    public override Tensor forward(Tensor m)
    {
        using var scope = NewDisposeScope();
        var gate = nn.functional.silu(gate_proj.forward(m));            // (*, I)
        var up = up_proj.forward(m);                                    // (*, I)
        return down_proj.forward(gate * up).MoveToOuterDisposeScope();  // (*, D)
    }
}
