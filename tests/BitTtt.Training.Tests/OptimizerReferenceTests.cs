using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

/// <summary>
/// The hand-written optimizer pieces of docs/model.md §5 against references: AdamW against TorchSharp's own
/// <c>optim.AdamW</c> (β = 0.9, 0.95; decay on matrices only), gradient clipping against
/// <c>nn.utils.clip_grad_norm_</c>, and the schedule against values worked out by hand.
/// </summary>
[TestClass]
public sealed class OptimizerReferenceTests
{
    static Parameter Param(float[] values, params long[] shape) => new(tensor(values, shape), requires_grad: true);

    // A loss whose gradient depends on the parameters, so every step sees a different gradient: d/dp Σ p²·R = 2p·R.
    static void Backward(IEnumerable<(Parameter P, Tensor R)> terms)
    {
        using var scope = NewDisposeScope();
        var loss = terms.Select(t => (t.P * t.P * t.R).sum()).Aggregate((a, b) => a + b);
        loss.backward();
    }

    [TestMethod]
    public void AdamWMatchesTorchAdamWWithDecayOnlyOnMatrices()
    {
        manual_seed(3);
        float[] matrixValues = randn(3, 4).data<float>().ToArray(), normValues = randn(4).add(1).data<float>().ToArray();
        using var r1 = randn(3, 4);
        using var r2 = randn(4);
        var ownMatrix = Param(matrixValues, 3, 4);
        var ownNorm = Param(normValues, 4);
        var refMatrix = Param(matrixValues, 3, 4);
        var refNorm = Param(normValues, 4);
        using var own = new AdamW([("layers.0.mlp.up_proj.weight", ownMatrix), ("layers.0.norm1.weight", ownNorm)], weightDecay: 0.1);
        var decayed = optim.AdamW([refMatrix], lr: 1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1);
        var notDecayed = optim.AdamW([refNorm], lr: 1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0);
        for (int step = 0; step < 12; step++)
        {
            double lr = LearningRateSchedule.At(step, 12, 5e-2, 1e-3, 3);
            foreach (var group in decayed.ParamGroups.Concat(notDecayed.ParamGroups)) group.LearningRate = lr;
            Backward([(ownMatrix, r1), (ownNorm, r2)]);
            Backward([(refMatrix, r1), (refNorm, r2)]);
            own.Step(lr);
            decayed.step();
            notDecayed.step();
            foreach (var p in new[] { ownMatrix, ownNorm, refMatrix, refNorm }) p.grad!.zero_();
            Assert.IsTrue(allclose(ownMatrix, refMatrix, 1e-6, 1e-7), $"matrix after step {step + 1}");
            Assert.IsTrue(allclose(ownNorm, refNorm, 1e-6, 1e-7), $"norm after step {step + 1}");
        }
        Assert.AreEqual(12, own.StepCount);
        // The decay really applied to the matrix only: without it the matrix would have ended elsewhere.
        var plain = Param(matrixValues, 3, 4);
        var noDecay = optim.AdamW([plain], lr: 1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0);
        for (int step = 0; step < 12; step++)
        {
            foreach (var group in noDecay.ParamGroups) group.LearningRate = LearningRateSchedule.At(step, 12, 5e-2, 1e-3, 3);
            Backward([(plain, r1)]);
            noDecay.step();
            plain.grad!.zero_();
        }
        Assert.IsFalse(allclose(ownMatrix, plain, 1e-6, 1e-7), "weight decay had no effect on the matrix");
    }

    /// <summary>AdamW.ClipGradients (libtorch's clip_grad_norm_) against the rule written out: global L2 norm in
    /// double, every gradient times maxNorm / (norm + 1e-6) when that is below 1, untouched otherwise. Random
    /// gradients on odd shapes, one parameter without a gradient.</summary>
    [TestMethod]
    [DataRow(1.0)]
    [DataRow(0.37)]
    [DataRow(1e3)]   // norm far below max: gradients untouched
    public void ClipGradientsMatchesTheWrittenOutRule(double maxNorm)
    {
        manual_seed(9);
        var shapes = new Dictionary<string, long[]> { ["a"] = [5, 7], ["b"] = [13], ["c"] = [3, 11], ["unused"] = [4] };
        var parameters = shapes.ToDictionary(s => s.Key, s => Param(randn(s.Value).data<float>().ToArray(), s.Value));
        var grads = shapes.Keys.Where(n => n != "unused").ToDictionary(n => n, n => randn(shapes[n]).mul(3).data<float>().ToArray());
        foreach (var (name, g) in grads)
            parameters[name].grad = tensor(g, shapes[name]);
        using var own = new AdamW(parameters.Select(p => (p.Key, p.Value)), weightDecay: 0);

        double expectedNorm = Math.Sqrt(grads.Values.SelectMany(g => g).Sum(x => (double)x * x));
        double coefficient = maxNorm / (expectedNorm + 1e-6);
        double norm = own.ClipGradients(maxNorm);

        Assert.AreEqual(expectedNorm, norm, 1e-5 * expectedNorm, "norm before clipping");
        Assert.IsNull(parameters["unused"].grad, "a parameter without a gradient stays without one");
        foreach (var (name, g) in grads)
        {
            var clipped = parameters[name].grad!.data<float>().ToArray();
            for (int i = 0; i < g.Length; i++)
            {
                double expected = coefficient < 1 ? g[i] * coefficient : g[i];
                if (coefficient >= 1) Assert.AreEqual(g[i], clipped[i], $"{name}[{i}] must not be scaled");
                else Assert.AreEqual(expected, clipped[i], 1e-6 * Math.Abs(expected) + 1e-7, $"{name}[{i}]");
            }
        }
    }

    [TestMethod]
    public void ScheduleIsLinearWarmupThenCosineToMinAtTheLastStep()
    {
        const double peak = 1e-3, min = 1e-4;
        // Warmup 4 of 14 steps: 0-based step s < 4 gets peak·(s+1)/4; the cosine then runs over steps 4..13.
        Assert.AreEqual(2.5e-4, LearningRateSchedule.At(0, 14, peak, min, 4), 1e-15);
        Assert.AreEqual(7.5e-4, LearningRateSchedule.At(2, 14, peak, min, 4), 1e-15);
        Assert.AreEqual(peak, LearningRateSchedule.At(3, 14, peak, min, 4), 1e-15);
        Assert.AreEqual(peak, LearningRateSchedule.At(4, 14, peak, min, 4), 1e-15);
        // Step 7 is a third of the way through the 9 decay steps: min + (peak - min)·(1 + cos(π/3))/2.
        Assert.AreEqual(min + (peak - min) * 0.75, LearningRateSchedule.At(7, 14, peak, min, 4), 1e-15);
        // No warmup, 13 steps: step 6 is half way through the 12 decay steps.
        Assert.AreEqual((peak + min) / 2, LearningRateSchedule.At(6, 13, peak, min, 0), 1e-15);
        Assert.AreEqual(min, LearningRateSchedule.At(13, 14, peak, min, 4), 1e-15);
        Assert.AreEqual(peak, LearningRateSchedule.At(0, 14, peak, min, 0), 1e-15);   // no warmup: starts at the peak
    }
}
