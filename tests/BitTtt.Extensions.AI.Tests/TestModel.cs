using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>One tiny BitLlama trained (TorchSharp, through the ML.NET pipeline) on a few KB of Moby-Dick, saved as .bitt.</summary>
[TestClass]
public static class TestModel
{
    public static string Directory { get; private set; } = null!;
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
        Directory = Path.Combine(Path.GetTempPath(), $"bitttt-apps-tests-{Environment.ProcessId}");
        System.IO.Directory.CreateDirectory(Directory);
        string book = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "moby-dick.txt"));
        int begin = book.IndexOf('\n', 20_000) + 1;
        string text = Path.Combine(Directory, "train.txt");
        File.WriteAllText(text, book[begin..book.IndexOf('\n', begin + 8_000)]);
        Ml = new MLContext(seed: 1);
        var data = Ml.Data.LoadFromTextFile<TextRow>(text);
        var options = new BitLlamaOptions
        {
            TokensColumnName = "Tokens", HiddenDim = 32, NumLayers = 1, ContextLen = 32, BatchSize = 4, MaxSteps = 24,
            WarmupSteps = 2, LearningRate = 3e-3, TttChunk = 4, Threads = 1, Seed = 7, ValidationFraction = 0, Generation = new() { MaxTokens = 16 },
        };
        Transformer = Ml.Transforms.TokenizeForBitLlama(outputColumnName: "Tokens", inputColumnName: "Text", vocabSize: 320)
            .Append(Ml.Transforms.BitLlama(options)).Fit(data);
        BittPath = Path.Combine(Directory, "tiny-chat.bitt");
        Ml.Model.SaveAsBitt(Transformer, BittPath);
    }

    [AssemblyCleanup]
    public static void Cleanup()
    {
        (Transformer as IDisposable)?.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }

    public static string NewPath(string name) => Path.Combine(Directory, $"{Guid.NewGuid():N}-{name}");
}
