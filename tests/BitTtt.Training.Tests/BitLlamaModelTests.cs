using BitTtt.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class BitLlamaModelTests
{
    /// <summary>A tiny model of either TTT type; the delta one with odd head widths (2 heads of 5: F = 10 ≠ D).</summary>
    internal static BitLlamaConfig TinyConfig(TttType type = TttType.Reconstruct, int chunk = 4, int conv = 4)
    {
        var c = new BitLlamaConfig { VocabSize = 37, HiddenDim = 16, NumLayers = 2, InnerLr = 0.5f, IntermediateDim = 24, TttChunk = chunk, ContextLen = 16 };
        return type == TttType.Delta ? c with { InnerLr = 1f, TttType = TttType.Delta, TttHeads = 2, TttHeadDim = 5, TttConv = conv } : c;
    }

    /// <summary>The module tree's state_dict and its parameters are exactly BitLlamaWeights.Expected (the one list of
    /// docs/model.md §2 names, pinned by literal names in BitLlamaWeightsTests): same names, same shapes, nothing extra.
    /// Order is free here: ModelWeights.Export writes in the list's order.</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct, 4)]
    [DataRow(TttType.Delta, 4)]
    [DataRow(TttType.Delta, 0)]
    public void StateDictIsTheExpectedWeightList(TttType type, int conv)
    {
        var config = TinyConfig(type, conv: conv);
        using var model = new BitLlamaModel(config);
        var expected = BitLlamaWeights.Expected(config);
        var actual = model.state_dict();
        CollectionAssert.AreEquivalent(expected.Select(e => e.Name).ToList(), actual.Keys.ToList());
        CollectionAssert.AreEquivalent(expected.Select(e => e.Name).ToList(), model.named_parameters().Select(p => p.name).ToList(), "parameters");
        foreach (var (name, shape, _) in expected)
            CollectionAssert.AreEqual(shape, actual[name].shape, name);
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct, 1)]
    [DataRow(TttType.Reconstruct, 4)]
    [DataRow(TttType.Reconstruct, 16)]
    [DataRow(TttType.Delta, 1)]
    [DataRow(TttType.Delta, 3)]
    [DataRow(TttType.Delta, 16)]
    public void SegmentedForwardEqualsWholeSequence(TttType type, int chunk)
    {
        manual_seed(chunk);
        using var model = new BitLlamaModel(TinyConfig(type, chunk));
        model.to(float64);
        using var ids = randint(0, 37, [2, 13], dtype: int64);
        using var whole = model.forward(ids);                                  // (2, 13, 37)
        TttState? state = null;
        var parts = new List<Tensor>();
        foreach (var (start, length) in new[] { (0, 5), (5, 1), (6, 7) })
        {
            var (logits, next) = model.Forward(ids.narrow(1, start, length), state);
            state?.Dispose();
            parts.Add(logits);
            state = next;
        }
        using var joined = cat(parts, 1);
        double maxDiff = (whole - joined).abs().max().item<double>();
        Assert.IsLessThan(1e-9, maxDiff, $"{type}, ttt_chunk {chunk}: largest difference");
        state!.Dispose();
        foreach (var p in parts) p.Dispose();
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct, "TTT state W/G must have shape [1, 4, 4]")]
    [DataRow(TttType.Delta, "delta TTT state S/ConvTail must have shapes [1, 2, 5, 5] and [1, 3, 30]")]
    public void BadIdsAndMismatchedStatesAreArgumentErrors(TttType type, string stateMessage)
    {
        using var model = new BitLlamaModel(TinyConfig(type));
        using var tooLarge = tensor(new long[] { 1, 37 }, [1, 2]);
        var e = Assert.ThrowsExactly<ArgumentException>(() => model.forward(tooLarge));
        StringAssert.Contains(e.Message, "token id 37 is outside the vocabulary [0, 37)");
        using var ids = tensor(new long[] { 1, 2, 3, 4 }, [2, 2]);
        var (logits, state) = model.Forward(ids, null);
        logits.Dispose();
        using (state)
        {
            using var single = tensor(new long[] { 5 }, [1, 1]);
            e = Assert.ThrowsExactly<ArgumentException>(() => model.Forward(single, state));
            StringAssert.Contains(e.Message, stateMessage);
        }
    }
}
