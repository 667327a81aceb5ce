using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Orleans.Tests;

/// <summary>
/// Tiny BitLlamas with random weights (nothing trained, no TorchSharp), one per TTT type, written once per test run
/// as .bitt files: what a conversation says does not matter here, only that every silo and a single process say the same.
/// </summary>
[TestClass]
public static class TestModels
{
    static string s_directory = null!;

    public static string Reconstruct { get; private set; } = null!;
    public static string Delta { get; private set; } = null!;

    /// <summary>The model file of a TTT type's name ("reconstruct" or "delta").</summary>
    public static string Of(string tttType) => tttType == "delta" ? Delta : Reconstruct;

    [AssemblyInitialize]
    public static void Write(TestContext _)
    {
        s_directory = Directory.CreateTempSubdirectory("bitttt-orleans-tests-").FullName;
        string tokenizer = BpeTrainer.TrainFromTexts(
            ["the whale swam in the sea. the sea was calm and the whale was white. User: Assistant: who was Ishmael?"],
            new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1 });
        var config = new BitLlamaConfig
        {
            VocabSize = BitLlamaTokenizer.FromJson(tokenizer).VocabSize, HiddenDim = 32, NumLayers = 2, InnerLr = 0.1f, TttChunk = 4,
        };
        Reconstruct = Write("reconstruct.bitt", config, tokenizer);
        Delta = Write("delta.bitt", config with { TttType = TttType.Delta, TttHeads = 2, TttConv = 4, InnerLr = 1f, TttChunk = 1 }, tokenizer);
    }

    [AssemblyCleanup]
    public static void Cleanup()
    {
        try { Directory.Delete(s_directory, recursive: true); } catch (IOException) { }
    }

    /// <summary>A new path in the run's folder.</summary>
    public static string NewPath(string name) => Path.Combine(s_directory, $"{Guid.NewGuid():N}-{name}");

    static string Write(string name, BitLlamaConfig config, string tokenizer)
    {
        var rng = new Random(7);
        var tensors = BitLlamaWeights.Expected(config).Select(t =>
        {
            var data = new float[t.Shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++)
                data[i] = t.Shape.Length == 1 ? (float)(1 + 0.2 * (rng.NextDouble() * 2 - 1)) : (float)((rng.NextDouble() * 2 - 1) / Math.Sqrt(t.Shape[^1]));
            return new SafeTensorData(t.Name, t.Shape, data);
        }).ToList();
        string path = Path.Combine(s_directory, name);
        ModelPackage.WriteBitt(path, config, tokenizer, tensors);
        return path;
    }
}
