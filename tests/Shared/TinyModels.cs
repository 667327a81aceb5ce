namespace BitTtt.Tests.Shared;

/// <summary>
/// Tiny models for every test project: configs at the odd sizes the engine tests use (docs/model.md §2 names and
/// shapes), and <see cref="RandomModel"/>'s weights by name. A model that must load with a tokenizer takes
/// <c>vocab: RandomModel.DefaultVocabSize</c>.
/// </summary>
internal static partial class TinyModels
{
    public static BitLlamaConfig Config(int vocab = 61, int dim = 32, int layers = 2, int chunk = 4, int intermediate = 0, float innerLr = 0.1f) =>
        new() { VocabSize = vocab, HiddenDim = dim, NumLayers = layers, InnerLr = innerLr, TttChunk = chunk, IntermediateDim = intermediate };

    /// <summary>A delta-rule TTT model (docs/model.md §3b); inner_lr 1 as new delta models use.</summary>
    public static BitLlamaConfig DeltaConfig(int vocab = 61, int dim = 32, int layers = 2, int heads = 2, int headDim = 0, int conv = 4,
        int intermediate = 0, float innerLr = 1f, int chunk = 1) =>
        Config(vocab, dim, layers, chunk, intermediate, innerLr) with { TttType = TttType.Delta, TttHeads = heads, TttHeadDim = headDim, TttConv = conv };

    /// <summary><see cref="RandomModel.Weights"/> by name.</summary>
    public static Dictionary<string, float[]> RandomWeights(BitLlamaConfig c, int seed) =>
        RandomModel.Weights(c, seed).ToDictionary(t => t.Name, t => t.Data.ToArray());

    /// <summary>Writes a random model for <see cref="RandomModel.DefaultTokenizerJson"/> as a .bitt file (default: 32 wide,
    /// 2 layers, reconstruct TTT) and returns <paramref name="path"/>.</summary>
    public static string WriteBitt(string path, BitLlamaConfig? config = null, int seed = 1) =>
        RandomModel.Create(config ?? Config(vocab: RandomModel.DefaultVocabSize), seed).WriteBitt(path);

    public static int[] RandomTokens(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
    }
}
