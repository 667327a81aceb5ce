using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>One tiny BitLlama trained (TorchSharp, through the ML.NET pipeline) on <see cref="TinyCorpus"/>, saved as .bitt.</summary>
[TestClass]
public static class TestModel
{
    public static string BittPath { get; private set; } = null!;
    public static MLContext Ml { get; private set; } = null!;
    public static ITransformer Transformer { get; private set; } = null!;

    public sealed class TextRow
    {
        [LoadColumn(0)] public string Text { get; set; } = "";
    }

    [AssemblyInitialize]
    public static void Train(TestContext _)
    {
        Ml = new MLContext(seed: 1);
        var options = TinyPipeline.Options(maxSteps: 24);
        options.HiddenDim = 32;
        options.ValidationFraction = 0;
        options.Generation = new() { MaxTokens = 16 };
        Transformer = TinyPipeline.Create(Ml, options).Fit(Ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath));
        BittPath = Path.Combine(TinyCorpus.Directory, "tiny-chat.bitt");   // the model id is the file name
        Ml.Model.SaveAsBitt(Transformer, BittPath);
    }

    [AssemblyCleanup]
    public static void Cleanup()
    {
        (Transformer as IDisposable)?.Dispose();
        TinyCorpus.Delete();
    }

    public static string NewPath(string name) => TinyCorpus.NewPath(name);
}
