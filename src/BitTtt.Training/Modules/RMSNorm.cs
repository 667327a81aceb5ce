using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): * = any leading dimensions (B, T), D = hidden.

/// <summary>RMS normalization (docs/model.md §3): <c>x / sqrt(mean(x²) + eps) * weight</c>, full precision.</summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight; // (D)
    private readonly double eps;

    public RMSNorm(string name, long dim, double eps) : base(name)
    {
        weight = nn.Parameter(torch.ones(dim));
        this.eps = eps;
        RegisterComponents();
    }

    /// <summary>(*, D) -> (*, D).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var rms = x.pow(2).mean([-1], keepdim: true).add(eps).sqrt();  // (*, 1)
        return (x / rms * weight).MoveToOuterDisposeScope();
    }
}
