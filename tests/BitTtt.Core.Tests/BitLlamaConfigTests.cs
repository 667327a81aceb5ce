using System.Text.Json.Nodes;
using BitTtt.Core.Tests.Formats;

namespace BitTtt.Core.Tests;

[TestClass]
public sealed class BitLlamaConfigTests
{
    static BitLlamaFormatException Fails(string json, params string[] fragments) =>
        TestFiles.AssertFormatError(() => BitLlamaConfig.FromJson(json, "cfg/config.json"), ["config.json: ", .. fragments]);

    [TestMethod]
    public void SeedExampleLoadsWithDefaults()
    {
        var c = BitLlamaConfig.FromJson("""{"vocab_size":16384,"hidden_dim":256,"num_layers":8,"inner_lr":0.1}""");
        Assert.AreEqual(16384, c.VocabSize);
        Assert.AreEqual(256, c.HiddenDim);
        Assert.AreEqual(8, c.NumLayers);
        Assert.AreEqual(0.1f, c.InnerLr);
        Assert.AreEqual(1024, c.IntermediateDim);
        Assert.AreEqual(1, c.TttChunk);
        Assert.AreEqual(1e-5f, c.RmsNormEps);
        Assert.AreEqual(128, c.ContextLen);
        Assert.AreEqual(64, c.TttDim);
        Assert.AreEqual(0, c.Extra.Count);
    }

    [TestMethod]
    [DataRow("hidden_size", "num_hidden_layers", "intermediate_size")]
    [DataRow("hidden_size", "n_layers", "intermediate_size")]
    public void AliasesAreReadButNeverWritten(string hidden, string layers, string intermediate)
    {
        var c = BitLlamaConfig.FromJson($$"""{"vocab_size":100,"{{hidden}}":32,"{{layers}}":3,"{{intermediate}}":48,"inner_lr":1}""");
        Assert.AreEqual(32, c.HiddenDim);
        Assert.AreEqual(3, c.NumLayers);
        Assert.AreEqual(48, c.IntermediateDim);
        var written = JsonNode.Parse(c.ToJson())!.AsObject();
        Assert.IsFalse(written.ContainsKey(hidden) || written.ContainsKey(layers) || written.ContainsKey(intermediate), c.ToJson());
        Assert.AreEqual(32, (int)written["hidden_dim"]!);
        Assert.AreEqual(48, (int)written["intermediate_dim"]!);
        Assert.AreEqual(1, (int)written["ttt_chunk"]!);
    }

    [TestMethod]
    public void UnknownFieldsSurviveARoundTripThroughAFile()
    {
        using var dir = new TempDir();
        var c = BitLlamaConfig.FromJson("""{"vocab_size":10,"hidden_dim":8,"num_layers":1,"inner_lr":0.5,"ttt_chunk":4,"rope":{"theta":10000,"list":[1,2]},"name":"x"}""");
        Assert.AreEqual(2, c.Extra.Count);
        string path = dir.File("config.json");
        c.Save(path);
        var back = BitLlamaConfig.Load(path);
        Assert.AreEqual(4, back.TttChunk);
        Assert.AreEqual(0.5f, back.InnerLr);
        Assert.IsTrue(JsonNode.DeepEquals(JsonNode.Parse("""{"theta":10000,"list":[1,2]}"""), back.Extra["rope"]));
        Assert.AreEqual("x", back.Extra["name"]!.GetValue<string>());
        Assert.AreEqual(c.ToJson(), back.ToJson());
        Assert.AreEqual(1, Directory.GetFiles(dir.Path).Length);
    }

    [TestMethod]
    public void HiddenDimMustBeAPositiveMultipleOfFour()
    {
        Fails("""{"vocab_size":10,"hidden_dim":30,"num_layers":1,"inner_lr":0.1}""", "hidden_dim must be a positive multiple of 4, got 30");
        Fails("""{"vocab_size":10,"hidden_dim":0,"num_layers":1,"inner_lr":0.1}""", "hidden_dim must be a positive multiple of 4, got 0");
    }

    [TestMethod]
    [DataRow("""{"vocab_size":-5,"hidden_dim":8,"num_layers":1,"inner_lr":0.1}""", "vocab_size must be positive, got -5")]
    [DataRow("""{"vocab_size":5,"hidden_dim":-8,"num_layers":1,"inner_lr":0.1}""", "hidden_dim must be a positive multiple of 4, got -8")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":0,"inner_lr":0.1}""", "num_layers must be positive, got 0")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":0.1,"intermediate_dim":-1}""", "intermediate_dim must be positive, got -1")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":0.1,"ttt_chunk":0}""", "ttt_chunk must be positive, got 0")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":0.1,"context_len":-3}""", "context_len must be positive, got -3")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":-0.1}""", "inner_lr must be a finite number >= 0")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":0.1,"rms_norm_eps":0}""", "rms_norm_eps must be a finite number > 0")]
    [DataRow("""{"hidden_dim":8,"num_layers":1,"inner_lr":0.1}""", "required field 'vocab_size' is missing")]
    [DataRow("""{"vocab_size":5,"num_layers":1,"inner_lr":0.1}""", "required field 'hidden_dim' is missing")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"inner_lr":0.1}""", "required field 'num_layers' is missing")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1}""", "required field 'inner_lr' is missing")]
    [DataRow("""{"vocab_size":null,"hidden_dim":8,"num_layers":1,"inner_lr":0.1}""", "required field 'vocab_size' is missing")]
    public void NegativeAndMissingSizesAreRejected(string json, string message) => Fails(json, message);

    [TestMethod]
    [DataRow("""{"vocab_size":"16384","hidden_dim":8,"num_layers":1,"inner_lr":0.1}""", "field 'vocab_size' must be an integer, got \"16384\"")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8.5,"num_layers":1,"inner_lr":0.1}""", "field 'hidden_dim' must be an integer, got 8.5")]
    [DataRow("""{"vocab_size":5,"hidden_size":[8],"num_layers":1,"inner_lr":0.1}""", "field 'hidden_size' must be an integer, got [8]")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":true,"inner_lr":0.1}""", "field 'num_layers' must be an integer, got true")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":"fast"}""", "field 'inner_lr' must be a finite number, got \"fast\"")]
    [DataRow("""{"vocab_size":5e20,"hidden_dim":8,"num_layers":1,"inner_lr":0.1}""", "field 'vocab_size' must be an integer")]
    [DataRow("""{"vocab_size":5,"hidden_dim":8,"num_layers":1,"inner_lr":0.1,"rms_norm_eps":{}}""", "field 'rms_norm_eps' must be a finite number, got {}")]
    public void WrongJsonTypesAreRejected(string json, string message) => Fails(json, message);

    [TestMethod]
    public void InvalidJsonAndNonObjectsAreRejected()
    {
        Fails("""{"vocab_size":5,""", "invalid JSON");
        Fails("[1,2,3]", "expected a JSON object at the top level");
        Fails("42", "expected a JSON object at the top level");
    }

    [TestMethod]
    public void LoadOfMissingFileNamesIt()
    {
        using var dir = new TempDir();
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => BitLlamaConfig.Load(dir.File("config.json")));
        StringAssert.Contains(e.Message, "config.json");
    }
}
