using System.Text.Json.Nodes;
using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// LoadBitt on files that did not come from SaveAsBitt: a model the CLI wrote (no ML.NET settings),
/// missing and damaged files, and generation settings out of range, in the config's <c>generation</c> field and in
/// the <c>mlnet</c> field where files written before it kept them. Uses a random model written directly, so nothing trains.
/// </summary>
[TestClass]
public sealed class LoadBittTests
{
    static readonly BitLlamaConfig _config = TinyModels.Config(vocab: RandomModel.DefaultVocabSize, dim: 16, layers: 1);

    static string Write(BitLlamaConfig config) => TinyModels.WriteBitt(TinyCorpus.NewPath("model.bitt"), config);

    static BitLlamaConfig WithSettings(JsonNode? settings) =>
        _config with { Extra = new Dictionary<string, JsonNode?> { ["mlnet"] = settings } };

    [TestMethod]
    public void AModelWithoutStoredSettings_GetsTheDefaults_AndPredicts()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(Write(_config));
        Assert.AreEqual(BitLlamaDefaults.TextColumnName, model.PromptColumnName);
        Assert.AreEqual(BitLlamaDefaults.CompletionColumnName, model.CompletionColumnName);
        // No generation defaults stored: the library's, as through every other door (a fresh seed per completion).
        Assert.AreEqual(new BitTtt.Inference.SamplingOptions(), model.Model.DefaultSampling);
        var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(model);
        Assert.IsNotNull(engine.Predict(new TextRow { Text = "the whale" }).Text);
    }

    [TestMethod]
    public void AMissingFile_IsFileNotFoundNamingIt()
    {
        string missing = TinyCorpus.NewPath("missing.bitt");
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => new MLContext(seed: 1).Model.LoadBitt(missing)).Message, missing);
    }

    [TestMethod]
    public void AFileThatIsNotAModel_IsAFormatErrorNamingIt()
    {
        string junk = TinyCorpus.NewPath("junk.bitt");
        File.WriteAllText(junk, "not a model at all");
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => new MLContext(seed: 1).Model.LoadBitt(junk));
        StringAssert.Contains(e.Message, Path.GetFileName(junk));
    }

    [TestMethod]
    public void ATruncatedFile_IsAFormatErrorNamingIt()
    {
        string cut = Write(_config);
        var bytes = File.ReadAllBytes(cut);
        File.WriteAllBytes(cut, bytes[..^64]);
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => new MLContext(seed: 1).Model.LoadBitt(cut)).Message, Path.GetFileName(cut));
    }

    [TestMethod]
    [DataRow("top_p", 1.5, "must be in (0, 1]")]
    [DataRow("temperature", -1.0, "must be a finite number >= 0")]
    [DataRow("max_new_tokens", 0.0, "must be positive")]
    [DataRow("top_k", -2.0, "must be >= 0")]
    [DataRow("repetition_penalty", 0.0, "must be a finite number > 0")]
    public void GenerationSettingsOutOfRange_FailAtLoadNamingFileAndField(string field, double value, string expected)
    {
        var settings = new JsonObject { [field] = field is "max_new_tokens" or "top_k" ? JsonValue.Create((int)value) : JsonValue.Create(value) };
        string path = Write(WithSettings(settings));
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => new MLContext(seed: 1).Model.LoadBitt(path));
        StringAssert.Contains(e.Message, Path.GetFileName(path));
        StringAssert.Contains(e.Message, $"'mlnet.{field}'");
        StringAssert.Contains(e.Message, expected);
        Assert.DoesNotContain("(Parameter", e.Message);
    }

    [TestMethod]
    [DataRow("top_p", 1.5, "must be in (0, 1]")]
    [DataRow("max_tokens", 0.0, "must be positive")]
    [DataRow("seed", 0.5, "must be an integer")]
    [DataRow("temprature", 0.5, "unknown field 'temprature'")]
    public void StoredGenerationDefaultsOutOfRange_FailAtLoadNamingFileAndField(string field, double value, string expected)
    {
        var stored = new JsonObject { [field] = field is "max_tokens" ? JsonValue.Create((int)value) : JsonValue.Create(value) };
        string path = Write(_config with { Extra = new Dictionary<string, JsonNode?> { ["generation"] = stored } });
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => new MLContext(seed: 1).Model.LoadBitt(path));
        StringAssert.Contains(e.Message, Path.GetFileName(path));
        StringAssert.Contains(e.Message, "'generation");
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void SettingsOfTheWrongShape_AreErrorsNamingTheField()
    {
        var ml = new MLContext(seed: 1);
        string notObject = Write(WithSettings(JsonValue.Create(3)));
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(notObject)).Message, "'mlnet' must be an object");
        string wrongType = Write(WithSettings(new JsonObject { ["top_k"] = "many" }));
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(wrongType)).Message, "'mlnet.top_k' must be an integer");
        string emptyColumn = Write(WithSettings(new JsonObject { ["prompt_column"] = "" }));
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(emptyColumn)).Message, "'mlnet.prompt_column'");
    }
}
