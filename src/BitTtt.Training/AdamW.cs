using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training;

/// <summary>
/// AdamW (decoupled weight decay, PyTorch's update rule) over named parameters, written out so its
/// moments can be saved to and restored from a checkpoint bit for bit:
/// <c>m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; p *= 1 - lr·wd; p -= lr/(1-β1ᵗ) · m / (sqrt(v/(1-β2ᵗ)) + ε)</c>.
/// Weight decay applies to matrices (embedding, BitLinear, LM head), not to norm weights (docs/model.md §5).
/// </summary>
internal sealed class AdamW : IDisposable
{
    public const double Beta1 = 0.9, Beta2 = 0.95, Epsilon = 1e-8;

    readonly (string Name, Parameter Param, bool Decay)[] _params;

    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters, double weightDecay)
    {
        _params = parameters.Select(p => (p.Name, p.Param, p.Param.dim() >= 2)).ToArray();
        WeightDecay = weightDecay;
        ExpAvg = _params.ToDictionary(p => p.Name, p => zeros_like(p.Param).DetachFromDisposeScope());
        ExpAvgSq = _params.ToDictionary(p => p.Name, p => zeros_like(p.Param).DetachFromDisposeScope());
    }

    public double WeightDecay { get; }

    /// <summary>Updates taken so far (t in the bias corrections).</summary>
    public long StepCount { get; set; }

    public IReadOnlyDictionary<string, Tensor> ExpAvg { get; }

    public IReadOnlyDictionary<string, Tensor> ExpAvgSq { get; }

    /// <summary>Global L2 norm of all gradients, scaled down in place to <paramref name="maxNorm"/> if larger
    /// (by maxNorm / (norm + 1e-6), as PyTorch); returns the norm before clipping. TorchSharp's
    /// <c>clip_grad_norm_</c> (libtorch's), so the rule is PyTorch's own.</summary>
    public double ClipGradients(double maxNorm)
    {
        var withGrads = _params.Where(p => p.Param.grad is not null).Select(p => p.Param).ToArray();
        return withGrads.Length == 0 ? 0 : nn.utils.clip_grad_norm_(withGrads, maxNorm);
    }

    public void Step(double lr)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        StepCount++;
        double bias1 = 1 - Math.Pow(Beta1, StepCount), bias2 = 1 - Math.Pow(Beta2, StepCount);
        foreach (var (name, p, decay) in _params)
        {
            var g = p.grad;
            if (g is null) continue;
            var m = ExpAvg[name];
            var v = ExpAvgSq[name];
            m.mul_(Beta1).add_(g, alpha: 1 - Beta1);
            v.mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
            if (decay && WeightDecay > 0) p.mul_(1 - lr * WeightDecay);
            var denominator = v.sqrt().div_(Math.Sqrt(bias2)).add_(Epsilon);
            p.addcdiv_(m, denominator, value: -lr / bias1);
        }
    }

    public void Dispose()
    {
        foreach (var t in ExpAvg.Values) t.Dispose();
        foreach (var t in ExpAvgSq.Values) t.Dispose();
    }
}

/// <summary>Linear warmup to the peak, then cosine decay to the minimum at the last step (docs/model.md §5).</summary>
public static class LearningRateSchedule
{
    /// <summary>Learning rate of 0-based step <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public static double At(int step, int totalSteps, double peak, double min, int warmupSteps)
    {
        if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
        int decaySteps = Math.Max(1, totalSteps - 1 - warmupSteps);
        double progress = Math.Clamp((double)(step - warmupSteps) / decaySteps, 0, 1);
        return min + 0.5 * (peak - min) * (1 + Math.Cos(Math.PI * progress));
    }
}
