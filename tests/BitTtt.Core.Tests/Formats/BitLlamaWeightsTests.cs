using BitTtt.Formats;

namespace BitTtt.Core.Tests.Formats;

[TestClass]
public sealed class BitLlamaWeightsTests
{
    [TestMethod]
    public void ExpectedFollowsSpecNamesAndShapes()
    {
        var config = new BitLlamaConfig { VocabSize = 50, HiddenDim = 24, NumLayers = 2, InnerLr = 0.1f, IntermediateDim = 40 };
        var expected = BitLlamaWeights.Expected(config);
        Assert.AreEqual(3 + 7 * 2, expected.Count);   // embed, 7 per layer, norm_f, lm_head
        var byName = expected.ToDictionary(e => e.Name);
        CollectionAssert.AreEqual(new long[] { 50, 24 }, byName["embed.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 24 }, byName["layers.1.norm1.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 6, 24 }, byName["layers.0.ttt.down.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 24, 6 }, byName["layers.0.ttt.up.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 24 }, byName["layers.1.norm2.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 40, 24 }, byName["layers.1.mlp.gate_proj.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 40, 24 }, byName["layers.1.mlp.up_proj.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 24, 40 }, byName["layers.1.mlp.down_proj.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 24 }, byName["norm_f.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 50, 24 }, byName["lm_head.weight"].Shape);
        var ternary = expected.Where(e => e.IsTernary).Select(e => e.Name.Split('.', 3)[2]).Distinct().Order().ToArray();
        CollectionAssert.AreEqual(new[] { "mlp.down_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "ttt.down.weight", "ttt.up.weight" }, ternary);
        Assert.AreEqual("layers.0.ttt.down.weight", BitLlamaWeights.Layer(0, "ttt.down.weight"));
        Assert.AreEqual("embed.weight", expected[0].Name);
        Assert.AreEqual("lm_head.weight", expected[^1].Name);
    }

    [TestMethod]
    public void IntermediateDefaultsToFourTimesHidden()
    {
        var config = new BitLlamaConfig { VocabSize = 10, HiddenDim = 16, NumLayers = 1, InnerLr = 0.1f };
        var gate = BitLlamaWeights.Expected(config).Single(e => e.Name == "layers.0.mlp.gate_proj.weight");
        CollectionAssert.AreEqual(new long[] { 64, 16 }, gate.Shape);
    }

    [TestMethod]
    public void ValidateNamesMissingTensorAndWrongShape()
    {
        using var dir = new TempDir();
        var config = new BitLlamaConfig { VocabSize = 32, HiddenDim = 64, NumLayers = 2, InnerLr = 0.1f, IntermediateDim = 8 };
        var weights = RandomModel.Weights(config);

        string missing = dir.File("missing.safetensors");
        SafeTensorsWriter.WriteFile(missing, weights.Where(w => w.Name != "layers.1.norm2.weight").ToList());
        using (var reader = SafeTensorsReader.Open(missing))
            TestFiles.AssertFormatError(() => BitLlamaWeights.Validate(reader, config),
                "missing.safetensors: ", "tensor 'layers.1.norm2.weight' is missing (expected shape [64])");

        string wrong = dir.File("wrong.safetensors");
        SafeTensorsWriter.WriteFile(wrong, weights.Select(w => w.Name == "layers.0.ttt.up.weight" ? new SafeTensorData(w.Name, [16, 64], w.Data) : w).ToList());
        using (var reader = SafeTensorsReader.Open(wrong))
            TestFiles.AssertFormatError(() => BitLlamaWeights.Validate(reader, config),
                "wrong.safetensors: ", "tensor 'layers.0.ttt.up.weight': expected shape [64, 16], found [16, 64]");

        string good = dir.File("good.safetensors");
        SafeTensorsWriter.WriteFile(good, [.. weights, new SafeTensorData("extra.tensor", [1], new float[1])]);
        using (var reader = SafeTensorsReader.Open(good))
            BitLlamaWeights.Validate(reader, config);
    }
}
