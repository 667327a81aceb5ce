using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): * = any leading dimensions (B, T), In = input features, Out = output features.

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

    /// <summary>(*, In) -> (*, Out).</summary>
    public override Tensor forward(Tensor x) => Product(x, [weight]);

    /// <summary>
    /// (*, In) -> (*, ΣOut): several BitLinear layers over one input, concatenated along the last axis.
    /// Equal to <c>cat([l.forward(x) for l in layers], -1)</c> (each weight keeps its own scale), but
    /// the input is quantized once and multiplied once.
    /// </summary>
    internal static Tensor ForwardConcat(Tensor x, params BitLinear[] layers) => Product(x, layers.Select(l => (Tensor)l.weight).ToArray());

    // docs/model.md §3 as written: y = (xq · Wqᵀ) / (a·s) with integer xq and Wq. Products of integers up to 128
    // summed in floating point are exact while |Σ| < 2^24 (any In below 131 072), so the matmul is the integer
    // dot the managed engine computes, and one float product a·s and one division are its last rounding too:
    // for the same input both give the same bits (multiplying the dequantized xq/a and Wq/s instead rounds
    // every product and partial sum, enough to move a later activation across an int8 rounding edge).
    // Straight-through: x·a + (round(x·a) − x·a), with a held constant, has the value xq and the gradient a·,
    // W·s likewise; the division by a·s makes both the identity through the quantizers. The offsets
    // round(·) − · are computed without autograd: no graph is recorded for the quantizer ops.
    static Tensor Product(Tensor x, Tensor[] weights)
    {
        using var scope = NewDisposeScope();
        var w = weights.Length == 1 ? weights[0] : cat(weights, 0);   // (ΣOut, In)
        Tensor a, s, dx, dw;
        using (no_grad())
        {
            a = ActivationScale(x);                                     // (*, 1)
            s = cat(weights.Select(t => WeightScale(t).expand(t.shape[0])).ToArray());   // (ΣOut): each row its tensor's s
            var xa = x * a;
            dx = xa.round().clamp(-128, 127) - xa;                      // (*, In)
            var ws = w * s.unsqueeze(1);
            dw = ws.round().clamp(-1, 1) - ws;                          // (ΣOut, In)
        }
        var xq = x * a + dx;                                            // (*, In), value xq
        var wq = w * s.unsqueeze(1) + dw;                               // (ΣOut, In), value Wq
        return xq.matmul(wq.t()).div(a * s).MoveToOuterDisposeScope();  // (*, ΣOut)
    }

    /// <summary>s = 1 / max(mean|W|, 1e-5), the mean summed in float64 and rounded once, as the managed engine does.</summary>
    internal static Tensor WeightScale(Tensor w)
    {
        using var scope = NewDisposeScope();
        return w.detach().abs().to(float64).mean().to(w.dtype).clamp_min(1e-5).reciprocal().MoveToOuterDisposeScope();   // ()
    }

    /// <summary>a = 127 / max(max|x|, 1e-5) per row: 127 divided by the maximum (not 127 · (1 / max)).</summary>
    internal static Tensor ActivationScale(Tensor x)
    {
        using var scope = NewDisposeScope();
        var max = x.detach().abs().amax([-1], keepdim: true).clamp_min(1e-5);   // (*, 1)
        return full_like(max, 127.0).div(max).MoveToOuterDisposeScope();
    }

    /// <summary>Effective ternary weight <c>clamp(round(W·s), -1, 1) / s</c>, s = 1 / max(mean|W|, 1e-5).</summary>
    internal static Tensor QuantizeWeight(Tensor w)
    {
        using var scope = NewDisposeScope();
        var s = WeightScale(w);                                         // ()
        return (w * s).round().clamp(-1, 1).div(s).MoveToOuterDisposeScope();
    }

    /// <summary>Effective int8 input <c>clamp(round(x·a), -128, 127) / a</c>, a = 127 / max(max|x|, 1e-5) per row.</summary>
    internal static Tensor QuantizeActivation(Tensor x)
    {
        using var scope = NewDisposeScope();
        var a = ActivationScale(x);                                     // (*, 1)
        return (x * a).round().clamp(-128, 127).div(a).MoveToOuterDisposeScope();
    }
}
