using BitTtt.Core.Tests.Formats;
using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Core.Tests;

/// <summary>The random model that bit-llama bench, the serving benchmark and every test project load.</summary>
[TestClass]
public sealed class RandomModelTests
{
    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void TensorsAreTheExpectedListAtTheTrainersScales(TttType type)
    {
        var config = TinyModels.Config(vocab: 37, dim: 16, layers: 2, intermediate: 24) with { TttType = type, TttHeads = 2, TttConv = 3 };
        var tensors = RandomModel.Weights(config, seed: 5);
        var expected = BitLlamaWeights.Expected(config);
        CollectionAssert.AreEqual(expected.Select(e => e.Name).ToList(), tensors.Select(t => t.Name).ToList());
        foreach (var ((name, shape, _), t) in expected.Zip(tensors))
        {
            CollectionAssert.AreEqual(shape, t.Shape, name);
            var data = t.Data.ToArray();
            bool norm = name.Contains("norm", StringComparison.Ordinal);
            double center = norm ? 1 : 0;
            double bound = norm ? 0.2 : shape.Length == 1 || name == BitLlamaWeights.Embed ? 1 : 1 / Math.Sqrt(shape[1]);
            double widest = data.Max(x => Math.Abs(x - center));
            Assert.IsLessThanOrEqualTo(bound, widest, name);
            Assert.IsGreaterThan(bound / 2, widest, $"{name}: the values should spread over ±{bound}");
        }
    }

    [TestMethod]
    public void TheSameSeedWritesTheSameBytesAndAnotherSeedOthers()
    {
        using var dir = new TempDir();
        var config = TinyModels.Config(vocab: RandomModel.DefaultVocabSize, dim: 16, layers: 1);
        byte[] a = File.ReadAllBytes(RandomModel.Create(config, seed: 3).WriteBitt(dir.File("a.bitt")));
        byte[] b = File.ReadAllBytes(RandomModel.Create(config, seed: 3).WriteBitt(dir.File("b.bitt")));
        byte[] c = File.ReadAllBytes(RandomModel.Create(config, seed: 4).WriteBitt(dir.File("c.bitt")));
        CollectionAssert.AreEqual(a, b);
        Assert.AreEqual(a.Length, c.Length);
        CollectionAssert.AreNotEqual(a, c);
    }

    [TestMethod]
    public void TheFileLoadsWithItsTokenizer()
    {
        using var dir = new TempDir();
        var config = TinyModels.DeltaConfig(vocab: RandomModel.DefaultVocabSize, dim: 16, layers: 1, heads: 2);
        string path = RandomModel.Create(config).WriteDirectory(dir.File("model"));
        using var package = ModelPackage.Open(path);
        Assert.AreEqual(config.ToJson(), package.Config.ToJson());
        var tokenizer = BitLlamaTokenizer.FromJson(package.TokenizerJson!);
        Assert.AreEqual(RandomModel.DefaultVocabSize, tokenizer.VocabSize);
        Assert.AreEqual("héllo wörld — 你好 🎉", tokenizer.Decode(tokenizer.Encode("héllo wörld — 你好 🎉")));
    }

    [TestMethod]
    public void AVocabularySmallerThanTheTokenizersIsRejected()
    {
        var config = TinyModels.Config(vocab: RandomModel.DefaultVocabSize - 1, dim: 16, layers: 1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => RandomModel.Create(config));
        StringAssert.Contains(e.Message, $"vocab_size {RandomModel.DefaultVocabSize - 1} is smaller than the tokenizer's {RandomModel.DefaultVocabSize} ids");
    }
}
