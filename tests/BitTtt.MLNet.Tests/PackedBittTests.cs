using BitTtt.Formats;
using BitTtt.MLNet;
using BitTtt.Tests.Shared;
using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// The packed .bitt through ML.NET's predict package: SaveAsBitt(packed: true) writes it, LoadBitt reads it (no fp32
/// weights kept), a model loaded packed saves packed again (and through Model.Save), keeping its columns and defaults.
/// </summary>
[TestClass]
public sealed class PackedBittTests
{
    [TestMethod]
    public void SaveAsBittPackedWritesAPackedFileThatLoadsPredictsAndSavesAgain()
    {
        var ml = new MLContext(seed: 1);
        string fp32 = TinyModels.WriteSeeded(), packed = TinyCorpus.NewPath("packed.bitt"), again = TinyCorpus.NewPath("again.bitt");
        using (var model = ml.Model.LoadBitt(fp32)) ml.Model.SaveAsBitt(model, packed, packed: true);
        using (var package = ModelPackage.Open(packed)) Assert.IsTrue(package.IsPacked);
        Assert.IsLessThan(new FileInfo(fp32).Length, new FileInfo(packed).Length);
        using var loaded = ml.Model.LoadBitt(packed);
        Assert.IsTrue(loaded.Model.Weights.UsesInt8Embedding);
        Assert.AreEqual(new BitTtt.Inference.SamplingOptions { Seed = 1 }, loaded.Model.DefaultSampling);   // the stored defaults survive
        var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(loaded);
        string text = engine.Predict(new TextRow { Text = "the whale" }).Text;
        ml.Model.SaveAsBitt(loaded, again);   // no fp32 weights to write: packed again, byte for byte
        CollectionAssert.AreEqual(File.ReadAllBytes(packed), File.ReadAllBytes(again));
        string zip = TinyCorpus.NewPath("packed.zip");
        ml.Model.Save(loaded, null, zip);
        using var reloaded = (IDisposable)ml.Model.LoadWithBitLlama(zip, out _);
        var reloadedEngine = ml.Model.CreatePredictionEngine<TextRow, Completion>((ITransformer)reloaded);
        Assert.AreEqual(text, reloadedEngine.Predict(new TextRow { Text = "the whale" }).Text);
    }
}
