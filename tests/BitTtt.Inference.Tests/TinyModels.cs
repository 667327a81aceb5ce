using BitTtt.Inference.Engine;

namespace BitTtt.Inference.Tests;

/// <summary>Randomly initialised tiny models (SPEC §2 names and shapes) for engine tests.</summary>
internal static class TinyModels
{
    public static BitLlamaConfig Config(int vocab = 61, int dim = 32, int layers = 2, int chunk = 4, int intermediate = 0, float innerLr = 0.1f) =>
        new() { VocabSize = vocab, HiddenDim = dim, NumLayers = layers, InnerLr = innerLr, TttChunk = chunk, IntermediateDim = intermediate };

    public static IReadOnlyList<(string Name, long[] Shape, bool Ternary)> Shapes(BitLlamaConfig c)
    {
        long v = c.VocabSize, dim = c.HiddenDim, d = c.TttDim, inter = c.IntermediateDim;
        var list = new List<(string, long[], bool)> { ("embed.weight", [v, dim], false) };
        for (int i = 0; i < c.NumLayers; i++)
        {
            list.Add(($"layers.{i}.norm1.weight", [dim], false));
            list.Add(($"layers.{i}.ttt.down.weight", [d, dim], true));
            list.Add(($"layers.{i}.ttt.up.weight", [dim, d], true));
            list.Add(($"layers.{i}.norm2.weight", [dim], false));
            list.Add(($"layers.{i}.mlp.gate_proj.weight", [inter, dim], true));
            list.Add(($"layers.{i}.mlp.up_proj.weight", [inter, dim], true));
            list.Add(($"layers.{i}.mlp.down_proj.weight", [dim, inter], true));
        }
        list.Add(("norm_f.weight", [dim], false));
        list.Add(("lm_head.weight", [v, dim], false));
        return list;
    }

    public static Dictionary<string, float[]> RandomWeights(BitLlamaConfig c, int seed)
    {
        var rng = new Random(seed);
        var result = new Dictionary<string, float[]>();
        foreach (var (name, shape, ternary) in Shapes(c))
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var data = new float[n];
            for (long i = 0; i < n; i++)
            {
                double u = rng.NextDouble() * 2 - 1;
                data[i] = name.EndsWith("norm1.weight") || name.EndsWith("norm2.weight") || name == "norm_f.weight"
                    ? (float)(1 + 0.2 * u)
                    : ternary ? (float)(u / Math.Sqrt(shape[1])) : (float)u;
            }
            result[name] = data;
        }
        return result;
    }

    public static InferenceWeights Load(BitLlamaConfig c, Dictionary<string, float[]> weights) =>
        InferenceWeights.Load(c, (name, shape) => weights.TryGetValue(name, out var w) ? w : throw new KeyNotFoundException(name));

    public static int[] RandomTokens(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
    }
}
