using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key: N = any leading dimensions (B, T), In = input features, Out = output features.

/// <summary>
/// BitNet b1.58 linear layer (docs/model.md §3): the weight is quantized per tensor to {-1, 0, +1} times a scale,
/// the input per row (token) to int8 times a scale, and both quantizers use the straight-through
/// estimator, so the forward pass is exactly the ternary layer while gradients reach the float weights.
/// No bias. The float weight is stored [Out, In], y = x·Wᵀ.
/// </summary>
public sealed class BitLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight; // (Out, In)

    public BitLinear(string name, long inFeatures, long outFeatures) : base(name)
    {
        // nn.Linear's default range; the ternary quantizer rescales by mean(|W|), so only the spread matters.
        double bound = 1.0 / Math.Sqrt(inFeatures);
        weight = nn.Parameter(torch.empty(outFeatures, inFeatures).uniform_(-bound, bound));
        RegisterComponents();
    }

    public long InFeatures => weight.shape[1];

    public long OutFeatures => weight.shape[0];

    /// <summary>(N, In) -> (N, Out).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (dw, dx) = StraightThrough([weight], x);
        var w = weight + dw;                                            // (Out, In), value Wq / s
        var xs = x + dx;                                                // (N, In), value xq / a
        return xs.matmul(w.t()).MoveToOuterDisposeScope();              // (N, Out)
    }

    /// <summary>
    /// (N, In) -> (N, ΣOut): several BitLinear layers over one input, concatenated along the last axis.
    /// Equal to <c>cat([l.forward(x) for l in layers], -1)</c> (each weight keeps its own scale), but
    /// the input is quantized once and multiplied once.
    /// </summary>
    internal static Tensor ForwardConcat(Tensor x, params BitLinear[] layers)
    {
        using var scope = NewDisposeScope();
        var weights = layers.Select(l => (Tensor)l.weight).ToArray();
        var (dw, dx) = StraightThrough(weights, x);
        var w = cat(weights, 0) + dw;                                   // (ΣOut, In), value [Wq / s per layer]
        var xs = x + dx;                                                // (N, In), value xq / a
        return xs.matmul(w.t()).MoveToOuterDisposeScope();              // (N, ΣOut)
    }

    // The straight-through offsets q(W) − W (weights concatenated along Out, each with its own scale) and
    // q(x) − x. Adding them to W and x gives the quantized values in the forward pass and the identity in the
    // backward pass, as x + (q(x) − x).detach() would; computing them without autograd records no graph for
    // the ~10 quantizer ops per tensor, which at small sizes is a visible part of a training step.
    static (Tensor Weights, Tensor Input) StraightThrough(Tensor[] weights, Tensor x)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var dw = (weights.Length == 1 ? QuantizeWeight(weights[0]) : cat(weights.Select(QuantizeWeight).ToArray(), 0))
            - (weights.Length == 1 ? weights[0] : cat(weights, 0));    // (ΣOut, In)
        var dx = QuantizeActivation(x) - x;                             // (N, In)
        return (dw.MoveToOuterDisposeScope(), dx.MoveToOuterDisposeScope());
    }

    /// <summary>Effective ternary weight <c>clamp(round(W·s), -1, 1) / s</c>, s = 1 / max(mean|W|, 1e-5).</summary>
    internal static Tensor QuantizeWeight(Tensor w)
    {
        using var scope = NewDisposeScope();
        var s = w.abs().mean().clamp_min(1e-5).reciprocal();           // ()
        return (w * s).round().clamp(-1, 1).div(s).MoveToOuterDisposeScope();
    }

    /// <summary>Effective int8 input <c>clamp(round(x·a), -128, 127) / a</c>, a = 127 / max(max|x|, 1e-5) per row.</summary>
    internal static Tensor QuantizeActivation(Tensor x)
    {
        using var scope = NewDisposeScope();
        var max = x.abs().amax([-1], keepdim: true).clamp_min(1e-5);  // (N, 1)
        var a = full_like(max, 127.0).div(max);                         // 127 / max exactly (not 127 · (1 / max))
        return (x * a).round().clamp(-128, 127).div(a).MoveToOuterDisposeScope();
    }
}
