using BitTtt.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

/// <summary>
/// What both TTT layers (docs/model.md §3a reconstruct, §3b delta) promise at the layer level, each property checked
/// for both types: a sequence fed in segments with the state carried equals the sequence fed at once, and a state of
/// another shape or type is one clear argument error. The math of each form against its token loop is in
/// ReconstructTttReferenceTests and DeltaTttReferenceTests.
/// </summary>
[TestClass]
public sealed class TttLayerTests
{
    /// <summary>A one-layer config with D = 12 (delta: 3 heads).</summary>
    internal static BitLlamaConfig LayerConfig(TttType type, int chunk, int conv = 4, int headDim = 3) => type == TttType.Delta
        ? new() { VocabSize = 11, HiddenDim = 12, NumLayers = 1, InnerLr = 1.2f, TttChunk = chunk, TttType = TttType.Delta, TttHeads = 3, TttHeadDim = headDim, TttConv = conv }
        : new() { VocabSize = 11, HiddenDim = 12, NumLayers = 1, InnerLr = 0.5f, TttChunk = chunk };

    /// <summary>The layer of the config's type in float64, its convolutions and beta_proj random (not the identity
    /// convolution and zero bias a new delta layer starts with, which would hide a mix-up of taps or channels).</summary>
    internal static TttMixer RandomLayer(BitLlamaConfig config)
    {
        var layer = TttMixer.Create("ttt", config);
        layer.to(float64);
        using var _ = no_grad();
        foreach (var (name, p) in layer.named_parameters())
            if (name.EndsWith("conv.weight", StringComparison.Ordinal) || name.StartsWith("beta_proj", StringComparison.Ordinal))
                p.copy_(randn_like(p));
        return layer;
    }

    public static IEnumerable<object[]> SplitCases() =>
    [
        TttCases.Row(LayerConfig(TttType.Reconstruct, chunk: 1), 1),
        TttCases.Row(LayerConfig(TttType.Reconstruct, chunk: 4), 4),
        TttCases.Row(LayerConfig(TttType.Reconstruct, chunk: 5), 5),
        TttCases.Row(LayerConfig(TttType.Reconstruct, chunk: 16), 16),   // longer than the sequence
        TttCases.Row(LayerConfig(TttType.Delta, chunk: 1, conv: 0, headDim: 5), 1),
        TttCases.Row(LayerConfig(TttType.Delta, chunk: 4, conv: 0, headDim: 5), 4),
        TttCases.Row(LayerConfig(TttType.Delta, chunk: 3, conv: 4, headDim: 5), 127),
        TttCases.Row(LayerConfig(TttType.Delta, chunk: 16, conv: 4, headDim: 5), 140),
        TttCases.Row(LayerConfig(TttType.Delta, chunk: 5, conv: 2, headDim: 5), 67),
    ];

    /// <summary>Cuts mid-chunk, shorter than the conv tail, and after every token: outputs and the whole state
    /// (W, G and the chunk position; S and the conv tail) equal those of the whole sequence.</summary>
    [TestMethod]
    [DynamicData(nameof(SplitCases))]
    public void SplitsWithCarriedStateEqualTheWholeSequence(BitLlamaConfig config, int seed)
    {
        const int time = 13;
        manual_seed(seed);
        using var scope = NewDisposeScope();
        using var layer = RandomLayer(config);
        var a = randn(2, time, 12, float64);
        var (whole, wholeState) = layer.Forward(a, null);
        foreach (var cuts in new[] { new[] { 1 }, new[] { 2, 3 }, new[] { 3, 9, 10 }, new[] { 5, 6, 12 }, Enumerable.Range(1, time - 1).ToArray() })
        {
            TttLayerState? state = null;
            var parts = new List<Tensor>();
            int start = 0;
            foreach (int end in cuts.Append(time))
            {
                var (part, next) = layer.Forward(a.narrow(1, start, end - start), state);
                parts.Add(part);
                state = next;
                start = end;
            }
            string at = $"{TttCases.Name(config)}, cuts {string.Join(",", cuts)}";
            Assert.IsTrue(allclose(whole, cat(parts, 1), 0, 1e-12), $"outputs, {at}");
            Assert.HasCount(wholeState.Tensors.Count, state!.Tensors);
            for (int i = 0; i < wholeState.Tensors.Count; i++)
                Assert.IsTrue(allclose(wholeState.Tensors[i], state.Tensors[i], 0, 1e-12), $"state tensor {i}, {at}");
            if (wholeState is ReconstructTttState r) Assert.AreEqual(r.Position, ((ReconstructTttState)state).Position, $"chunk position, {at}");
        }
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct, "TTT state W/G must have shape [1, 3, 3]", "DeltaTttState")]
    [DataRow(TttType.Delta, "delta TTT state S/ConvTail must have shapes [1, 3, 3, 3]", "ReconstructTttState")]
    public void AStateOfAnotherShapeOrTypeIsAnArgumentError(TttType type, string shapeMessage, string otherState)
    {
        using var scope = NewDisposeScope();
        using var layer = TttMixer.Create("ttt", LayerConfig(type, chunk: 4));
        var a = randn(2, 3, 12);
        var (_, state) = layer.Forward(a, null);
        var e = Assert.ThrowsExactly<ArgumentException>(() => layer.Forward(randn(1, 3, 12), state));
        StringAssert.Contains(e.Message, shapeMessage);
        TttLayerState other = type == TttType.Delta
            ? new ReconstructTttState(zeros(2, 3, 3), zeros(2, 3, 3), 0)
            : new DeltaTttState(zeros(2, 3, 3, 3), zeros(2, 3, 36));
        e = Assert.ThrowsExactly<ArgumentException>(() => layer.Forward(a, other));
        StringAssert.Contains(e.Message, $"TTT state is a {otherState}");
    }
}
