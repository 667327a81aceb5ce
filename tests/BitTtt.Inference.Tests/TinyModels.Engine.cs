using BitTtt.Inference;
using BitTtt.Inference.Engine;

namespace BitTtt.Tests.Shared;

internal static partial class TinyModels
{
    /// <summary>The engine's weights; the fp32 LM head unless <paramref name="int8Head"/>, so logits compare with the references to float rounding.</summary>
    public static InferenceWeights Load(BitLlamaConfig c, Dictionary<string, float[]> weights, bool int8Head = false) =>
        InferenceWeights.Load(c, (name, shape) => weights.TryGetValue(name, out var w) ? w : throw new KeyNotFoundException(name),
            new InferenceOptions { Int8LmHead = int8Head });
}
