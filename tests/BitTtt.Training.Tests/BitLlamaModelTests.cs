using BitTtt.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class BitLlamaModelTests
{
    internal static BitLlamaConfig TinyConfig(int chunk = 4) => new()
    {
        VocabSize = 37, HiddenDim = 16, NumLayers = 2, InnerLr = 0.5f, IntermediateDim = 24, TttChunk = chunk, ContextLen = 16,
    };

    /// <summary>The delta layer (docs/model.md §3b) with odd head widths (2 heads of 5: F = 10 ≠ D).</summary>
    internal static BitLlamaConfig TinyDeltaConfig(int chunk = 4, int conv = 4) => TinyConfig(chunk) with
    {
        InnerLr = 1f, TttType = TttType.Delta, TttHeads = 2, TttHeadDim = 5, TttConv = conv,
    };

    /// <summary>The module tree's state_dict is exactly BitLlamaWeights.Expected (the one list of docs/model.md §2
    /// names, pinned by literal names in BitLlamaWeightsTests): same names, same shapes, nothing extra. Order is
    /// free here: ModelWeights.Export writes in the list's order.</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct, 4)]
    [DataRow(TttType.Delta, 4)]
    [DataRow(TttType.Delta, 0)]
    public void StateDictIsTheExpectedWeightList(TttType type, int conv)
    {
        var config = type == TttType.Delta ? TinyDeltaConfig(conv: conv) : TinyConfig();
        using var model = new BitLlamaModel(config);
        var expected = BitLlamaWeights.Expected(config);
        var actual = model.state_dict();
        CollectionAssert.AreEquivalent(expected.Select(e => e.Name).ToList(), actual.Keys.ToList());
        foreach (var (name, shape, _) in expected)
            CollectionAssert.AreEqual(shape, actual[name].shape, name);
    }

    [TestMethod]
    [DataRow(1, false)]
    [DataRow(4, false)]
    [DataRow(16, false)]
    [DataRow(3, true)]
    public void SegmentedForwardEqualsWholeSequence(int chunk, bool delta)
    {
        manual_seed(chunk);
        using var model = new BitLlamaModel(delta ? TinyDeltaConfig(chunk) : TinyConfig(chunk));
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
        Assert.IsTrue(maxDiff < 1e-9, $"largest difference {maxDiff}");
        state!.Dispose();
        foreach (var p in parts) p.Dispose();
    }

    [TestMethod]
    public void DeltaParameterNamesAreTheSpecWeightNames()
    {
        foreach (int conv in new[] { 0, 4 })
        {
            var config = TinyDeltaConfig(conv: conv);
            using var model = new BitLlamaModel(config);
            var expected = Formats.BitLlamaWeights.Expected(config).Select(e => (e.Name, e.Shape)).OrderBy(e => e.Name).ToList();
            var actual = model.named_parameters().Select(p => (p.name, p.parameter.shape)).OrderBy(p => p.name).ToList();
            CollectionAssert.AreEqual(expected.Select(e => e.Name).ToList(), actual.Select(a => a.name).ToList(), $"conv {conv}");
            for (int i = 0; i < expected.Count; i++) CollectionAssert.AreEqual(expected[i].Shape, actual[i].shape, expected[i].Name);
        }
    }

    [TestMethod]
    public void BadIdsAndMismatchedStatesAreArgumentErrors()
    {
        using var model = new BitLlamaModel(TinyConfig());
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
            StringAssert.Contains(e.Message, "TTT state W/G must have shape [1, 4, 4]");
        }
    }
}
