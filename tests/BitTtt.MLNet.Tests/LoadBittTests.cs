using System.Text.Json.Nodes;
using BitTtt.Formats;
using BitTtt.MLNet;
using BitTtt.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// LoadBitt on files that did not come from SaveAsBitt: a model the CLI wrote (no ML.NET settings),
/// missing and damaged files, and generation settings out of range. Uses a random model written
/// directly, so nothing trains.
/// </summary>
[TestClass]
public sealed class LoadBittTests
{
    static BitLlamaConfig _config = null!;
    static string _tokenizer = null!;
    static List<SafeTensorData> _tensors = null!;

    [ClassInitialize]
    public static void WriteModel(TestContext _)
    {
        _tokenizer = BpeTrainer.TrainFromTexts(["the whale swam in the sea. the sea was calm and the whale was white."],
            new BpeTrainerOptions { VocabSize = 290, MinFrequency = 1 });
        _config = new BitLlamaConfig { VocabSize = BitLlamaTokenizer.FromJson(_tokenizer).VocabSize, HiddenDim = 16, NumLayers = 1, InnerLr = 0.1f, TttChunk = 4 };
        var rng = new Random(1);
        _tensors = BitLlamaWeights.Expected(_config).Select(t =>
        {
            var data = new float[t.Shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = t.Shape.Length == 1 ? 1f : (float)(rng.NextDouble() * 2 - 1);
            return new SafeTensorData(t.Name, t.Shape, data);
        }).ToList();
    }

    static string Write(BitLlamaConfig config)
    {
        string path = TinyCorpus.NewPath("model.bitt");
        ModelPackage.WriteBitt(path, config, _tokenizer, _tensors);
        return path;
    }

    static BitLlamaConfig WithSettings(JsonNode? settings) =>
        _config with { Extra = new Dictionary<string, JsonNode?> { ["mlnet"] = settings } };

    [TestMethod]
    public void AModelWithoutMlNetSettings_GetsTheDefaults_AndPredicts()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(Write(_config));
        Assert.AreEqual(BitLlamaDefaults.TextColumnName, model.PromptColumnName);
        Assert.AreEqual(BitLlamaDefaults.CompletionColumnName, model.CompletionColumnName);
        var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(model);
        Assert.AreEqual(model.Generate("the whale"), engine.Predict(new TextRow { Text = "the whale" }).Text);
    }

    [TestMethod]
    public void MissingAndDamagedFiles_AreErrorsNamingTheFile()
    {
        var ml = new MLContext(seed: 1);
        string missing = TinyCorpus.NewPath("missing.bitt");
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => ml.Model.LoadBitt(missing)).Message, missing);

        string junk = TinyCorpus.NewPath("junk.bitt");
        File.WriteAllText(junk, "not a model at all");
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(junk));
        StringAssert.Contains(e.Message, Path.GetFileName(junk));

        string cut = Write(_config);
        var bytes = File.ReadAllBytes(cut);
        File.WriteAllBytes(cut, bytes[..^64]);
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(cut)).Message, Path.GetFileName(cut));
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
    public void SettingsOfTheWrongShape_AreErrorsNamingTheField()
    {
        var ml = new MLContext(seed: 1);
        string notObject = Write(WithSettings(JsonValue.Create(3)));
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(notObject)).Message, "'mlnet' must be an object");
        string wrongType = Write(WithSettings(new JsonObject { ["top_k"] = "many" }));
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(wrongType)).Message, "'mlnet'");
        string emptyColumn = Write(WithSettings(new JsonObject { ["prompt_column"] = "" }));
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(emptyColumn)).Message, "'mlnet.prompt_column'");
    }

    [TestMethod]
    public void SchemaAndOptionErrors_ComeBeforeAnyRowIsRead()
    {
        // SchemaShape.Create is internal to ML.NET, so the check runs through Fit on a view whose cursors
        // fail: the errors below must come from GetOutputSchema, before any data is touched.
        var ml = new MLContext(seed: 1);
        var text = new UnreadableView(ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "x" } }));

        // The simple overload forwards its arguments: the named column and the shape are what get checked.
        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama("Ids", hiddenDim: 16, numLayers: 1, maxSteps: 3).Fit(text));
        StringAssert.Contains(missing.Message, "Could not find input column 'Ids'");
        var wrongType = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama("Text", hiddenDim: 16).Fit(text));
        StringAssert.Contains(wrongType.Message, "Schema mismatch for input column 'Text': expected vector of UInt32, got String");
        var shape = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama("Tokens", hiddenDim: 30)).Fit(text));
        Assert.AreEqual(nameof(BitLlamaOptions.HiddenDim), shape.ParamName);
        var steps = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama(maxSteps: 0)).Fit(text));
        Assert.AreEqual(nameof(BitLlamaOptions.MaxSteps), steps.ParamName);
        var noText = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama()).Fit(new UnreadableView(ml.Data.LoadFromEnumerable(new[] { new OtherRow() }))));
        StringAssert.Contains(noText.Message, "Could not find input column 'Text'");
        Assert.AreEqual(0, text.Cursors);
    }

    /// <summary>A view whose schema is readable but whose rows are not: any cursor is a test failure.</summary>
    sealed class UnreadableView(IDataView inner) : IDataView
    {
        public int Cursors;
        public bool CanShuffle => inner.CanShuffle;
        public DataViewSchema Schema => inner.Schema;
        public long? GetRowCount() => null;

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            Interlocked.Increment(ref Cursors);
            throw new AssertFailedException("a row was read before the schema and options were checked");
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];
    }

    sealed class OtherRow { public string Body { get; set; } = ""; }
}
