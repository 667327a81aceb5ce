using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Inference.Tests;

/// <summary>A tiny random BitLlama with a real byte-level BPE tokenizer, for API tests.</summary>
internal static class TinyLlama
{
    static readonly Lazy<string> Json = new(() => BpeTrainer.TrainFromTexts(
        ["the whale swam in the sea. the sea was calm and the whale was white.", "héllo wörld — 你好 🎉 naïve café"],
        new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1 }));

    public static string TokenizerJson => Json.Value;

    public static BitLlamaTokenizer Tokenizer() => BitLlamaTokenizer.FromJson(TokenizerJson);

    public static BitLlamaConfig Config(int dim = 32, int chunk = 4) =>
        TinyModels.Config(vocab: Tokenizer().VocabSize, dim: dim, chunk: chunk);

    public static List<SafeTensorData> Tensors(BitLlamaConfig c, int seed)
    {
        var weights = TinyModels.RandomWeights(c, seed);
        return BitLlamaWeights.Expected(c).Select(s => new SafeTensorData(s.Name, s.Shape, weights[s.Name])).ToList();
    }

    public static Llama Create(int seed = 1, int dim = 32, int chunk = 4)
    {
        var c = Config(dim, chunk);
        return Llama.FromWeights(c, Tokenizer(), Tensors(c, seed));
    }

    /// <summary>The same with a delta-rule TTT layer (docs/model.md §3b).</summary>
    public static Llama CreateDelta(int seed = 1, int heads = 2, int conv = 4)
    {
        var c = TinyModels.DeltaConfig(vocab: Tokenizer().VocabSize, heads: heads, conv: conv);
        return Llama.FromWeights(c, Tokenizer(), Tensors(c, seed));
    }
}
