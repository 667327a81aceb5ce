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

    // Written out here rather than taken from BitLlamaWeights.Expected, so a slip there shows up as a test failure.
    public static IReadOnlyList<(string Name, long[] Shape, bool Ternary)> Shapes(BitLlamaConfig c)
    {
        long v = c.VocabSize, dim = c.HiddenDim, d = c.TttDim, inter = c.IntermediateDim;
        long f = c.TttHeads * c.TttHeadDim, h = c.TttHeads, k = c.TttConv;
        var list = new List<(string, long[], bool)> { ("embed.weight", [v, dim], false) };
        for (int i = 0; i < c.NumLayers; i++)
        {
            list.Add(($"layers.{i}.norm1.weight", [dim], false));
            if (c.TttType == TttType.Delta)
            {
                list.Add(($"layers.{i}.ttt.q_proj.weight", [f, dim], true));
                list.Add(($"layers.{i}.ttt.k_proj.weight", [f, dim], true));
                list.Add(($"layers.{i}.ttt.v_proj.weight", [f, dim], true));
                list.Add(($"layers.{i}.ttt.o_proj.weight", [dim, f], true));
                list.Add(($"layers.{i}.ttt.beta_proj.weight", [h, dim], false));
                list.Add(($"layers.{i}.ttt.beta_proj.bias", [h], false));
                if (k > 0)
                    foreach (var conv in new[] { "q_conv", "k_conv", "v_conv" })
                        list.Add(($"layers.{i}.ttt.{conv}.weight", [f, k], false));
            }
            else
            {
                list.Add(($"layers.{i}.ttt.down.weight", [d, dim], true));
                list.Add(($"layers.{i}.ttt.up.weight", [dim, d], true));
            }
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
