using System.Text.Json.Nodes;
using BitTtt.Core.Tests.Formats;
using BitTtt.Formats;

namespace BitTtt.Core.Tests;

/// <summary>The delta TTT fields of config.json (docs/model.md §1) and the tensors they call for (docs/model.md §2).</summary>
[TestClass]
public sealed class DeltaConfigTests
{
    static BitLlamaFormatException Fails(string json, params string[] fragments) =>
        TestFiles.AssertFormatError(() => BitLlamaConfig.FromJson(json, "cfg/config.json"), ["config.json: ", .. fragments]);

    const string Base = "\"vocab_size\":50,\"hidden_dim\":24,\"num_layers\":2,\"inner_lr\":1";

    [TestMethod]
    public void SeedFileIsReconstructAndEveryWrittenFileStatesItsType()
    {
        var seed = BitLlamaConfig.FromJson($"{{{Base}}}");
        Assert.AreEqual(TttType.Reconstruct, seed.TttType);
        var written = JsonNode.Parse(seed.ToJson())!.AsObject();
        Assert.AreEqual("reconstruct", (string)written["ttt_type"]!);
        Assert.IsFalse(written.ContainsKey("ttt_heads"), "delta fields are not written for reconstruct");
    }

    [TestMethod]
    public void DeltaDefaultsAndRoundTrip()
    {
        var c = BitLlamaConfig.FromJson($"{{{Base},\"ttt_type\":\"delta\"}}");
        Assert.AreEqual(TttType.Delta, c.TttType);
        Assert.AreEqual(4, c.TttHeads);
        Assert.AreEqual(6, c.TttHeadDim);
        Assert.AreEqual(24, c.TttInnerDim);
        Assert.AreEqual(4, c.TttConv);
        var again = BitLlamaConfig.FromJson(c.ToJson());
        Assert.AreEqual(c.ToJson(), again.ToJson());

        var wide = BitLlamaConfig.FromJson($"{{{Base},\"ttt_type\":\"delta\",\"ttt_heads\":3,\"ttt_head_dim\":5,\"ttt_conv\":0}}");
        Assert.AreEqual(15, wide.TttInnerDim);
        Assert.AreEqual(0, wide.TttConv);
    }

    [TestMethod]
    public void BadDeltaFieldsNameTheField()
    {
        Fails($"{{{Base},\"ttt_type\":\"attention\"}}", "ttt_type", "\"delta\"");
        Fails($"{{{Base},\"ttt_type\":3}}", "ttt_type");
        Fails($"{{{Base},\"ttt_type\":\"delta\",\"ttt_heads\":0}}", "ttt_heads must be positive");
        Fails($"{{{Base},\"ttt_type\":\"delta\",\"ttt_heads\":5}}", "ttt_heads must divide hidden_dim", "24", "5");
        Fails($"{{{Base},\"ttt_type\":\"delta\",\"ttt_head_dim\":-2}}", "ttt_head_dim must be positive");
        Fails($"{{{Base},\"ttt_type\":\"delta\",\"ttt_conv\":-1}}", "ttt_conv must be >= 0");
        Fails($"{{{Base},\"ttt_heads\":4}}", "'ttt_heads' applies only to ttt_type \"delta\"");
        Fails($"{{{Base},\"ttt_type\":\"reconstruct\",\"ttt_conv\":4}}", "'ttt_conv' applies only");
    }

    [TestMethod]
    public void DeltaTensorsFollowSpecNamesAndShapes()
    {
        var config = new BitLlamaConfig { VocabSize = 50, HiddenDim = 24, NumLayers = 2, InnerLr = 1f, IntermediateDim = 40, TttType = TttType.Delta, TttHeads = 3, TttHeadDim = 5, TttConv = 4 };
        var byName = BitLlamaWeights.Expected(config).ToDictionary(e => e.Name);
        Assert.AreEqual(3 + 2 * (2 + 3 + 9), byName.Count);
        Assert.IsFalse(byName.ContainsKey("layers.0.ttt.down.weight"));
        foreach (var p in new[] { "q", "k", "v" })
        {
            CollectionAssert.AreEqual(new long[] { 15, 24 }, byName[$"layers.1.ttt.{p}_proj.weight"].Shape);
            Assert.IsTrue(byName[$"layers.1.ttt.{p}_proj.weight"].IsTernary);
            CollectionAssert.AreEqual(new long[] { 15, 4 }, byName[$"layers.1.ttt.{p}_conv.weight"].Shape);
            Assert.IsFalse(byName[$"layers.1.ttt.{p}_conv.weight"].IsTernary);
        }
        CollectionAssert.AreEqual(new long[] { 24, 15 }, byName["layers.0.ttt.o_proj.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 3, 24 }, byName["layers.0.ttt.beta_proj.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 3 }, byName["layers.0.ttt.beta_proj.bias"].Shape);
        Assert.IsFalse(byName["layers.0.ttt.beta_proj.weight"].IsTernary);

        var noConv = BitLlamaWeights.Expected(config with { TttConv = 0 });
        Assert.IsFalse(noConv.Any(e => e.Name.Contains("_conv")), "K = 0 has no conv tensors");
    }
}
