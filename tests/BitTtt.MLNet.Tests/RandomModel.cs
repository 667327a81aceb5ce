using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.MLNet.Tests;

/// <summary>A tiny model with random weights, written straight to a .bitt file: nothing trains, no TorchSharp.</summary>
internal static class RandomModel
{
    public static string TokenizerJson { get; } = BpeTrainer.TrainFromTexts(
        ["the whale swam in the sea. the sea was calm and the whale was white."],
        new BpeTrainerOptions { VocabSize = 290, MinFrequency = 1 });

    public static BitLlamaConfig Config { get; } = new()
    {
        VocabSize = BitLlamaTokenizer.FromJson(TokenizerJson).VocabSize, HiddenDim = 16, NumLayers = 1, InnerLr = 0.1f, TttChunk = 4,
    };

    public static List<SafeTensorData> Tensors { get; } = Create(Config);

    /// <summary>
    /// Writes <paramref name="config"/> with the random weights to a new .bitt file; by default <see cref="Config"/> with a
    /// stored sampling seed, as every model trained here stores its training seed (so its completions are reproducible).
    /// </summary>
    public static string Write(BitLlamaConfig? config = null)
    {
        string path = TinyCorpus.NewPath("model.bitt");
        ModelPackage.WriteBitt(path, config ?? new SamplingOptions { Seed = 1 }.StoreIn(Config), TokenizerJson, Tensors);
        return path;
    }

    static List<SafeTensorData> Create(BitLlamaConfig config)
    {
        var rng = new Random(1);
        return BitLlamaWeights.Expected(config).Select(t =>
        {
            var data = new float[t.Shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = t.Shape.Length == 1 ? 1f : (float)(rng.NextDouble() * 2 - 1);
            return new SafeTensorData(t.Name, t.Shape, data);
        }).ToList();
    }
}
