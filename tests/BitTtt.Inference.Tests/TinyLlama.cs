using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Inference.Tests;

/// <summary>A tiny random BitLlama with <see cref="RandomModel"/>'s byte-level BPE tokenizer, for API tests.</summary>
internal static class TinyLlama
{
    public static string TokenizerJson => RandomModel.DefaultTokenizerJson;

    public static BitLlamaTokenizer Tokenizer() => BitLlamaTokenizer.FromJson(TokenizerJson);

    static readonly Lazy<string> s_chatTokenizer = new(() => RandomModel.TrainTokenizer(RandomModel.DefaultTexts, vocabSize: 300, chatTokens: true));

    /// <summary>The same texts and size with the chat tokens reserved (its last 4 ids), for models that store a template.</summary>
    public static string ChatTokenizerJson => s_chatTokenizer.Value;

    public static BitLlamaTokenizer ChatTokenizer() => BitLlamaTokenizer.FromJson(ChatTokenizerJson);

    public static BitLlamaConfig Config(int dim = 32, int chunk = 4) => TinyModels.Config(vocab: RandomModel.DefaultVocabSize, dim: dim, chunk: chunk);

    public static List<SafeTensorData> Tensors(BitLlamaConfig c, int seed) => RandomModel.Weights(c, seed);

    public static Llama Create(int seed = 1, int dim = 32, int chunk = 4)
    {
        var c = Config(dim, chunk);
        return Llama.FromWeights(c, Tokenizer(), Tensors(c, seed));
    }

    /// <summary>The same with a delta-rule TTT layer (docs/model.md §3b).</summary>
    public static Llama CreateDelta(int seed = 1, int heads = 2, int conv = 4)
    {
        var c = TinyModels.DeltaConfig(vocab: RandomModel.DefaultVocabSize, heads: heads, conv: conv);
        return Llama.FromWeights(c, Tokenizer(), Tensors(c, seed));
    }
}
