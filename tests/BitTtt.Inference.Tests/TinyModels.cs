using BitTtt.Formats;
using BitTtt.Inference.Engine;

namespace BitTtt.Inference.Tests;

/// <summary>Randomly initialised tiny models (docs/model.md §2 names and shapes) for engine tests.</summary>
internal static class TinyModels
{
    public static BitLlamaConfig Config(int vocab = 61, int dim = 32, int layers = 2, int chunk = 4, int intermediate = 0, float innerLr = 0.1f) =>
        new() { VocabSize = vocab, HiddenDim = dim, NumLayers = layers, InnerLr = innerLr, TttChunk = chunk, IntermediateDim = intermediate };

    /// <summary>A delta-rule TTT model (docs/model.md §3b); inner_lr 1 as new delta models use.</summary>
    public static BitLlamaConfig DeltaConfig(int vocab = 61, int dim = 32, int layers = 2, int heads = 2, int headDim = 0, int conv = 4,
        int intermediate = 0, float innerLr = 1f, int chunk = 1) =>
        Config(vocab, dim, layers, chunk, intermediate, innerLr) with { TttType = TttType.Delta, TttHeads = heads, TttHeadDim = headDim, TttConv = conv };

    public static Dictionary<string, float[]> RandomWeights(BitLlamaConfig c, int seed)
    {
        var rng = new Random(seed);
        var result = new Dictionary<string, float[]>();
        foreach (var (name, shape, ternary) in BitLlamaWeights.Expected(c))
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var data = new float[n];
            for (long i = 0; i < n; i++)
            {
                double u = rng.NextDouble() * 2 - 1;
                data[i] = IsNorm(name)
                    ? (float)(1 + 0.2 * u)
                    : ternary ? (float)(u / Math.Sqrt(shape[1])) : (float)u;
            }
            result[name] = data;
        }
        return result;
    }

    static bool IsNorm(string name) =>
        name == BitLlamaWeights.NormF || name.EndsWith("." + BitLlamaWeights.Norm1, StringComparison.Ordinal) || name.EndsWith("." + BitLlamaWeights.Norm2, StringComparison.Ordinal);

    /// <summary>The engine's weights; the fp32 LM head unless <paramref name="int8Head"/>, so logits compare with the references to float rounding.</summary>
    public static InferenceWeights Load(BitLlamaConfig c, Dictionary<string, float[]> weights, bool int8Head = false) =>
        InferenceWeights.Load(c, (name, shape) => weights.TryGetValue(name, out var w) ? w : throw new KeyNotFoundException(name),
            new InferenceOptions { Int8LmHead = int8Head });

    public static int[] RandomTokens(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
    }
}
