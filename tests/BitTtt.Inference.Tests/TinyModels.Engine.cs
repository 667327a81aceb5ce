using BitTtt.Inference.Engine;

namespace BitTtt.Tests.Shared;

internal static partial class TinyModels
{
    public static InferenceWeights Load(BitLlamaConfig c, Dictionary<string, float[]> weights) =>
        InferenceWeights.Load(c, (name, shape) => weights.TryGetValue(name, out var w) ? w : throw new KeyNotFoundException(name));
}
