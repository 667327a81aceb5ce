using BitTtt.MLNet;
using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

/// <summary>ML.NET conventions the trainer follows: the MLContext seed, and GpuDeviceId / FallbackToCpu as in Microsoft.ML.TorchSharp.</summary>
[TestClass]
public sealed class MLContextConventionTests
{
    static float[] FitEmbedding(MLContext ml, int? seed, out BitLlamaTransformer model)
    {
        var options = TinyPipeline.Options(maxSteps: 3);
        options.Seed = seed;
        options.ValidationFraction = 0;
        var pipeline = TinyPipeline.Create(ml, options).Fit(ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath));
        model = ((IEnumerable<ITransformer>)pipeline).OfType<BitLlamaTransformer>().Single();
        return model.Weights!.Single(w => w.Name == "embed.weight").Data.ToArray();   // a fitted model keeps its fp32 weights
    }

    [TestMethod]
    public void UnsetSeed_ComesFromTheMLContextSeed()
    {
        var a = FitEmbedding(new MLContext(seed: 1), seed: null, out var modelA);
        var b = FitEmbedding(new MLContext(seed: 1), seed: null, out var modelB);
        var c = FitEmbedding(new MLContext(seed: 2), seed: null, out _);
        CollectionAssert.AreEqual(a, b, "new MLContext(seed: 1) reproduces a Fit");
        CollectionAssert.AreNotEqual(a, c, "another MLContext seed trains another model");
        Assert.AreEqual(modelA.Model.DefaultSampling.Seed, modelB.Model.DefaultSampling.Seed, "the drawn seed is also the stored sampling seed");

        var explicitA = FitEmbedding(new MLContext(seed: 1), seed: 7, out _);
        var explicitB = FitEmbedding(new MLContext(seed: 2), seed: 7, out _);
        CollectionAssert.AreEqual(explicitA, explicitB, "BitLlamaOptions.Seed, when set, wins over the MLContext");
    }

    [TestMethod]
    public void GpuDeviceId_WithoutCuda_FallsBackOnlyWhenAllowed()
    {
        if (TorchSharp.torch.cuda.is_available()) Assert.Inconclusive("CUDA is available here; this test covers a machine without it.");
        var strict = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => FitEmbedding(strict, seed: 7, out _));
        StringAssert.Contains(e.Message, "MLContext.GpuDeviceId = 0");
        StringAssert.Contains(e.Message, "FallbackToCpu");

        var lenient = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
        var log = new List<string>();
        lenient.Log += (_, m) => { if (m.Source.StartsWith("BitLlama", StringComparison.Ordinal)) lock (log) log.Add(m.Message); };
        var onCpu = FitEmbedding(lenient, seed: 7, out _);
        var plain = FitEmbedding(new MLContext(seed: 1), seed: 7, out _);
        CollectionAssert.AreEqual(plain, onCpu, "the fallback trains on the CPU, as without a GPU id");
        Assert.IsTrue(log.Any(l => l.Contains("training on the CPU", StringComparison.Ordinal)), string.Join("\n", log));
    }
}
