namespace BitTtt.Tests.Shared;

/// <summary>
/// Data rows over the TTT type for <c>[DynamicData]</c>: a tiny model's config and one number the test needs (a seed,
/// a length), the case named by its TTT type and shape in docs/model.md's letters, so a failure says which layer type
/// and shape it ran on.
/// </summary>
internal static class TttCases
{
    public static string Name(BitLlamaConfig c) => c.TttType == TttType.Delta
        ? $"delta, H {c.TttHeads}, dh {c.TttHeadDim}, K {c.TttConv}, b {c.TttChunk}, D {c.HiddenDim}, L {c.NumLayers}"
        : $"reconstruct, b {c.TttChunk}, D {c.HiddenDim}, L {c.NumLayers}, I {c.IntermediateDim}";

    public static object[] Row(BitLlamaConfig c, int number) => [new TestDataRow<(BitLlamaConfig, int)>((c, number)) { ArgumentsDisplayName = Name(c) }];
}
