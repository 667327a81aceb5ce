using System.Text.Json.Nodes;
using BitTtt.Formats;

namespace BitTtt.Core.Tests.Formats;

[TestClass]
public sealed class ModelPackageTests
{
    static void AssertSameModel(BitLlamaConfig config, List<SafeTensorData> weights, ModelPackage package)
    {
        Assert.AreEqual(config.ToJson(), package.Config.ToJson());
        Assert.IsNotNull(package.TokenizerJson);
        Assert.IsTrue(JsonNode.DeepEquals(JsonNode.Parse(TestFiles.TokenizerJson), JsonNode.Parse(package.TokenizerJson)));
        Assert.AreEqual(weights.Count, package.Weights.Tensors.Count);
        foreach (var w in weights)
            CollectionAssert.AreEqual(w.Data.ToArray(), package.Weights.ReadFloat32(w.Name, w.Shape), w.Name);
    }

    [TestMethod]
    public void BittRoundTrip()
    {
        using var dir = new TempDir();
        var config = TinyModels.Config(vocab: 32, dim: 16) with { Extra = new Dictionary<string, JsonNode?> { ["future_field"] = JsonValue.Create("kept") } };
        var weights = RandomModel.Weights(config);
        string path = dir.File("m.bitt");
        ModelPackage.WriteBitt(path, config, TestFiles.TokenizerJson, weights);
        using var package = ModelPackage.Open(path);
        Assert.AreEqual(ModelPackageKind.Bitt, package.Kind);
        Assert.AreEqual(path, package.Path);
        Assert.AreEqual("kept", package.Config.Extra["future_field"]!.GetValue<string>());
        AssertSameModel(config, weights, package);
        Assert.AreEqual(path, package.Weights.FilePath);
    }

    [TestMethod]
    public void DirectoryRoundTripAndAlternateWeightsName()
    {
        using var dir = new TempDir();
        var config = TinyModels.Config(vocab: 40, dim: 8, layers: 3) with { IntermediateDim = 12 };
        var weights = RandomModel.Weights(config, seed: 3);
        string model = dir.File("model");
        ModelPackage.WriteDirectory(model, config, TestFiles.TokenizerJson, weights);
        Assert.IsTrue(File.Exists(Path.Combine(model, "config.json")));
        Assert.IsTrue(File.Exists(Path.Combine(model, "tokenizer.json")));
        using (var package = ModelPackage.Open(model))
        {
            Assert.AreEqual(ModelPackageKind.Directory, package.Kind);
            AssertSameModel(config, weights, package);
        }
        File.Move(Path.Combine(model, "model.safetensors"), Path.Combine(model, "weight.safetensors"));
        using (var package = ModelPackage.Open(model + Path.DirectorySeparatorChar))
            AssertSameModel(config, weights, package);
        Assert.AreEqual(0, Directory.GetFiles(model, "*.tmp").Length);
    }

    [TestMethod]
    public void WritersRejectWeightsThatDoNotMatchTheConfig()
    {
        using var dir = new TempDir();
        var config = TinyModels.Config(vocab: 32, dim: 16);
        var weights = RandomModel.Weights(config);
        weights.RemoveAll(w => w.Name == "layers.1.norm2.weight");
        var e = Assert.ThrowsExactly<ArgumentException>(() => ModelPackage.WriteBitt(dir.File("m.bitt"), config, TestFiles.TokenizerJson, weights));
        StringAssert.Contains(e.Message, "tensor 'layers.1.norm2.weight' is missing (expected shape [16])");
        Assert.ThrowsExactly<ArgumentException>(() => ModelPackage.WriteBitt(dir.File("m.bitt"), config, "[1,2]", RandomModel.Weights(config)));
        Assert.ThrowsExactly<ArgumentException>(() => ModelPackage.WriteDirectory(dir.File("d"), config, "{not json", RandomModel.Weights(config)));
        Assert.AreEqual(0, Directory.GetFileSystemEntries(dir.Path).Length);
    }

    [TestMethod]
    public void OpenOfMissingPathIsFileNotFound()
    {
        using var dir = new TempDir();
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => ModelPackage.Open(dir.File("nothing.bitt")));
        StringAssert.Contains(e.Message, "nothing.bitt");
    }
}
