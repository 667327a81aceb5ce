using BitTtt.Formats;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class ModelWeightsTests
{
    const string MinimalTokenizer = """{"model":{"type":"BPE","vocab":{},"merges":[]}}""";

    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void SavedAndReloadedModelComputesIdenticalLogits(TttType type)
    {
        manual_seed(123);
        var config = BitLlamaModelTests.TinyConfig(type, chunk: 3);
        using var model = new BitLlamaModel(config);
        string dir = TokenFileTests.TempDir();
        var weights = ModelWeights.Export(model);
        CollectionAssert.AreEqual(BitLlamaWeights.Expected(config).Select(e => e.Name).ToList(), weights.Select(w => w.Name).ToList());
        ModelPackage.WriteDirectory(Path.Combine(dir, "model"), config, MinimalTokenizer, weights);
        ModelPackage.WriteBitt(Path.Combine(dir, "model.bitt"), config, MinimalTokenizer, weights);

        using var ids = randint(0, config.VocabSize, [2, 11], dtype: int64);
        using var expected = model.forward(ids);
        foreach (var path in new[] { Path.Combine(dir, "model"), Path.Combine(dir, "model.bitt") })
        {
            using var reloaded = ModelWeights.LoadModel(path);
            Assert.AreEqual(config with { Extra = reloaded.Config.Extra }, reloaded.Config);
            using var actual = reloaded.forward(ids);
            CollectionAssert.AreEqual(expected.data<float>().ToArray(), actual.data<float>().ToArray(), path);
        }
        using var fromList = ModelWeights.FromWeights(config, weights);
        using var again = fromList.forward(ids);
        CollectionAssert.AreEqual(expected.data<float>().ToArray(), again.data<float>().ToArray(), "FromWeights");
    }

    [TestMethod]
    public void WeightsForAnotherConfigAreRejectedNamingTheTensor()
    {
        using var model = new BitLlamaModel(BitLlamaModelTests.TinyConfig());
        var weights = ModelWeights.Export(model);
        var wider = BitLlamaModelTests.TinyConfig() with { HiddenDim = 20 };
        var e = Assert.ThrowsExactly<ArgumentException>(() => ModelWeights.FromWeights(wider, weights));
        StringAssert.Contains(e.Message, "embed.weight");
    }
}
