using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// BitLlamaScore and BitLlamaFeaturize on a random tiny model (nothing trains): values against a one-token-at-a-time
/// reference through a session, Transform (batched, parallel) equal to PredictionEngine (row by row) for any thread
/// count and batch size, pass-through columns kept in step, schema errors in ML.NET's words, Model.Save round trips.
/// </summary>
[TestClass]
public sealed class ScoreAndFeaturizeTests
{
    sealed class IdRow
    {
        public int Id { get; set; }
        public string Text { get; set; } = "";
    }

    sealed class ScoreRow
    {
        public float Score { get; set; }
        public float TokenCount { get; set; }
    }

    sealed class FeaturesRow
    {
        public float[] Features { get; set; } = [];
    }

    static IdRow[] Rows()
    {
        var lines = File.ReadLines(TinyCorpus.TextPath).Take(30).ToList();
        lines.Insert(3, "");                                     // an empty row
        lines.Insert(7, "w");                                    // one token
        lines.Insert(11, "Order 123\tshipped to Contoso\t\"paid\"");
        return lines.Select((t, i) => new IdRow { Id = i, Text = t }).ToArray();
    }

    /// <summary>mean ln p(token | separator + earlier tokens), one token at a time through a session, softmax in double.</summary>
    static (double Score, int Count) ReferenceScore(Llama llama, string text, string separator = "\n")
    {
        int[] sep = separator.Length == 0 ? [] : llama.Tokenizer.Encode(separator);
        int[] ids = [.. sep, .. llama.Tokenizer.Encode(text)];
        int first = sep.Length > 0 ? sep.Length : 1;
        using var session = llama.CreateSession();
        double sum = 0;
        for (int t = 0; t + 1 < ids.Length; t++)
        {
            float[] logits = session.Logits([ids[t]]);
            if (t + 1 < first) continue;
            double max = logits.Max(), z = logits.Sum(x => Math.Exp(x - max));
            sum += logits[ids[t + 1]] - max - Math.Log(z);
        }
        int count = ids.Length - first;
        return (sum / count, count);
    }

    [TestMethod]
    public void Score_IsTheMeanLogLikelihoodPerToken_AfterTheRowSeparator()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var rows = Rows();
        var scores = ml.Transforms.BitLlamaScore(model).Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        var got = ml.Data.CreateEnumerable<ScoreRow>(scores, reuseRowObject: false).ToList();
        Assert.HasCount(rows.Length, got);
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i].Text.Length == 0)
            {
                Assert.IsTrue(float.IsNaN(got[i].Score), "an empty row has no score");
                Assert.AreEqual(0f, got[i].TokenCount);
                continue;
            }
            var (score, count) = ReferenceScore(model.Model, rows[i].Text);
            Assert.AreEqual(count, got[i].TokenCount, $"row {i}");
            Assert.AreEqual(score, got[i].Score, 1e-4, $"row {i}");
            Assert.IsLessThan(0f, got[i].Score, $"row {i}: a log-likelihood is negative");
        }
    }

    [TestMethod]
    public void Score_WithoutSeparator_ScoresFromTheSecondToken_AndMaxTokensCutsTheRow()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        string text = File.ReadLines(TinyCorpus.TextPath).First(l => l.Length > 200);
        var engine = ml.Model.CreatePredictionEngine<TextRow, ScoreRow>(
            ml.Transforms.BitLlamaScore(model, new BitLlamaScoreOptions { RowSeparator = "" }).Fit(ml.Data.LoadFromEnumerable(Array.Empty<TextRow>())));
        var (score, count) = ReferenceScore(model.Model, text, separator: "");
        var got = engine.Predict(new TextRow { Text = text });
        Assert.AreEqual(count, got.TokenCount);
        Assert.AreEqual(score, got.Score, 1e-4);
        Assert.IsTrue(float.IsNaN(engine.Predict(new TextRow { Text = "w" }).Score), "one token and no separator: nothing to score");

        var cut = ml.Model.CreatePredictionEngine<TextRow, ScoreRow>(
            ml.Transforms.BitLlamaScore(model, new BitLlamaScoreOptions { MaxTokens = 5 }).Fit(ml.Data.LoadFromEnumerable(Array.Empty<TextRow>())));
        Assert.AreEqual(5f, cut.Predict(new TextRow { Text = text }).TokenCount);
    }

    [TestMethod]
    public void Features_AreTheMeanAndTheLastFinalHiddenState_Of2DValues()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        int dim = model.Config.HiddenDim;
        var featurizer = ml.Transforms.BitLlamaFeaturize(model).Fit(ml.Data.LoadFromEnumerable(Array.Empty<TextRow>()));
        Assert.AreEqual(2 * dim, featurizer.FeatureLength);
        var column = featurizer.GetOutputSchema(ml.Data.LoadFromEnumerable(Array.Empty<TextRow>()).Schema)["Features"];
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 2 * dim), column.Type);

        var engine = ml.Model.CreatePredictionEngine<TextRow, FeaturesRow>(featurizer);
        string text = "the whale swam in the sea, and Queequeg saw it.";
        int[] ids = [.. model.Tokenizer.Encode("\n"), .. model.Tokenizer.Encode(text)];
        int sep = model.Tokenizer.Encode("\n").Length;
        using var session = model.Model.CreateSession();
        var states = ids.Select(id => session.HiddenStates([id])).ToArray();   // one token at a time
        var features = engine.Predict(new TextRow { Text = text }).Features;
        Assert.HasCount(2 * dim, features);
        for (int j = 0; j < dim; j++)
        {
            double mean = states.Skip(sep).Average(s => (double)s[j]);
            Assert.AreEqual(mean, features[j], 1e-5, $"mean, dimension {j}");
            Assert.AreEqual(states[^1][j], features[dim + j], 1e-6f, $"last, dimension {j}");
        }

        var empty = engine.Predict(new TextRow { Text = "" }).Features;
        Assert.IsTrue(empty.All(float.IsFinite), "an empty row gets finite features (the separator's), not NaN");
        CollectionAssert.AreEqual(empty, engine.Predict(new TextRow { Text = "" }).Features);
    }

    [TestMethod]
    public void Transform_EqualsPredictionEngine_ForAnyThreadCountAndBatchSize_AndKeepsOtherColumnsInStep()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var rows = Rows();
        var data = ml.Data.LoadFromEnumerable(rows);
        (float[] Score, float[][] Features, int[] Ids) Run(int threads, int batch)
        {
            var pipeline = ml.Transforms.BitLlamaScore(model, new BitLlamaScoreOptions { Threads = threads, BatchSize = batch })
                .Append(ml.Transforms.BitLlamaFeaturize(model, new BitLlamaFeaturizeOptions { Threads = threads, BatchSize = batch }));
            var output = pipeline.Fit(data).Transform(data);
            return (output.GetColumn<float>("Score").ToArray(), output.GetColumn<float[]>("Features").ToArray(), output.GetColumn<int>("Id").ToArray());
        }
        var one = Run(threads: 1, batch: 1);
        var many = Run(threads: 4, batch: 7);
        CollectionAssert.AreEqual(rows.Select(r => r.Id).ToArray(), many.Ids, "the pass-through column stays in step with the rows");
        CollectionAssert.AreEqual(one.Score, many.Score, "the scores do not depend on threads or batches");
        for (int i = 0; i < rows.Length; i++) CollectionAssert.AreEqual(one.Features[i], many.Features[i], $"row {i}");

        var scorer = ml.Model.CreatePredictionEngine<TextRow, ScoreRow>(ml.Transforms.BitLlamaScore(model).Fit(data));
        var featurizer = ml.Model.CreatePredictionEngine<TextRow, FeaturesRow>(ml.Transforms.BitLlamaFeaturize(model).Fit(data));
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.AreEqual(many.Score[i], scorer.Predict(new TextRow { Text = rows[i].Text }).Score, $"row {i}: Transform and PredictionEngine");
            CollectionAssert.AreEqual(many.Features[i], featurizer.Predict(new TextRow { Text = rows[i].Text }).Features, $"row {i}");
        }
    }

    [TestMethod]
    public void Transform_IsLazy_ACursorWithoutTheAddedColumnsComputesNothing()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var data = ml.Data.LoadFromEnumerable(Rows());
        var output = ml.Transforms.BitLlamaScore(model).Fit(data).Transform(data);
        model.Dispose();   // anything that computes a score now throws
        Assert.HasCount(Rows().Length, output.GetColumn<string>("Text").ToList());
        Assert.ThrowsExactly<ObjectDisposedException>(() => output.GetColumn<float>("Score").ToList());
    }

    [TestMethod]
    public void SchemaErrors_AreInMLNetsWords_BeforeAnythingRuns()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var numbers = ml.Data.LoadFromEnumerable(new[] { new { Text = 1f } });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlamaScore(model, inputColumnName: "Body").Fit(numbers));
        Assert.AreEqual("Could not find input column 'Body' (Parameter 'inputSchema')", e.Message);
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ml.Transforms.NormalizeMinMax("Text").Append(ml.Transforms.BitLlamaFeaturize(model)).Fit(numbers));
        StringAssert.StartsWith(e.Message, "Schema mismatch for input column 'Text': expected String, got Single");

        var options = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlamaScore(model, new BitLlamaScoreOptions { MaxTokens = -1 }));
        Assert.AreEqual("MaxTokens", options.ParamName);
        string missing = TinyCorpus.NewPath("missing.bitt");
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => ml.Transforms.BitLlamaFeaturize(missing)).Message, missing);
    }

    [TestMethod]
    public void APipelineWithScoreAndFeatures_SavesWithModelSave_AndLoadsBackWithLoadWithBitLlama()
    {
        var ml = new MLContext(seed: 1);
        string modelPath = TinyModels.WriteSeeded();
        var rows = Rows();
        var data = ml.Data.LoadFromEnumerable(rows.Select(r => new { r.Id, Body = r.Text }));
        var pipeline = ml.Transforms.BitLlamaScore(modelPath, new BitLlamaScoreOptions { InputColumnName = "Body", OutputColumnName = "Fit", TokenCountColumnName = "N", MaxTokens = 40 })
            .Append(ml.Transforms.BitLlamaFeaturize(modelPath, "Vector", "Body"))
            .Append(ml.Transforms.NormalizeMeanVariance("Vector"));
        using var fitted = pipeline.Fit(data);
        string zip = TinyCorpus.NewPath("columns.zip");
        ml.Model.Save(fitted, data.Schema, zip);

        var loaded = ml.Model.LoadWithBitLlama(zip);
        var before = fitted.Transform(data);
        var after = loaded.Transform(data);
        CollectionAssert.AreEqual(before.GetColumn<float>("Fit").ToArray(), after.GetColumn<float>("Fit").ToArray());
        CollectionAssert.AreEqual(before.GetColumn<float>("N").ToArray(), after.GetColumn<float>("N").ToArray());
        Assert.IsTrue(after.GetColumn<float>("N").All(n => n <= 40), "MaxTokens survives the round trip");
        var v1 = before.GetColumn<float[]>("Vector").ToArray();
        var v2 = after.GetColumn<float[]>("Vector").ToArray();
        for (int i = 0; i < v1.Length; i++) CollectionAssert.AreEqual(v1[i], v2[i], $"row {i}");
        (loaded as IDisposable)?.Dispose();

    }

    [TestMethod]
    public void PlainModelLoad_LoadsButTheFirstScoreNamesLoadWithBitLlama()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows());
        using var fitted = ml.Transforms.BitLlamaScore(TinyModels.WriteSeeded()).Append(ml.Transforms.BitLlamaFeaturize(TinyModels.WriteSeeded())).Fit(data);
        string zip = TinyCorpus.NewPath("plain.zip");
        ml.Model.Save(fitted, data.Schema, zip);
        var plain = ml.Model.Load(zip, out _);
        // ML.NET reads the placeholder's column on its own worker threads and wraps what it throws.
        var e = Assert.Throws<InvalidOperationException>(() => plain.Transform(data).GetColumn<float>("Score").ToList());
        StringAssert.Contains((e.InnerException ?? e).Message, "load it with mlContext.Model.LoadWithBitLlama(path)");
    }

    [TestMethod]
    public void ATransformerMadeFromAFittedModelBorrowsIt_OneMadeFromAPathOwnsIt()
    {
        var ml = new MLContext(seed: 1);
        string path = TinyModels.WriteSeeded();
        var empty = ml.Data.LoadFromEnumerable(Array.Empty<TextRow>());
        using var model = ml.Model.LoadBitt(path);
        ml.Transforms.BitLlamaScore(model).Fit(empty).Dispose();
        Assert.IsFalse(model.IsDisposed, "a borrowed model outlives the score transformer");

        var owner = ml.Transforms.BitLlamaFeaturize(path).Fit(empty);
        owner.Dispose();
        Assert.IsTrue(owner.Model.IsDisposed, "a model loaded from a path ends with its transformer");
    }

    [TestMethod]
    public void Features_FeedAnOrdinaryTrainer()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var book = File.ReadLines(TinyCorpus.TextPath).Where(l => l.Length > 40).Take(24).Select(t => new LabelledRow { Text = t, Label = "book" });
        var rng = new Random(2);
        var digits = Enumerable.Range(0, 24).Select(_ => new LabelledRow { Text = string.Concat(Enumerable.Range(0, 30).Select(_ => rng.Next(10))), Label = "digits" });
        var data = ml.Data.LoadFromEnumerable(book.Concat(digits).ToList());
        var pipeline = ml.Transforms.BitLlamaFeaturize(model)
            .Append(ml.Transforms.NormalizeMeanVariance("Features"))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(maximumNumberOfIterations: 20));
        var metrics = ml.MulticlassClassification.Evaluate(pipeline.Fit(data).Transform(data));
        Assert.IsGreaterThan(0.9, metrics.MicroAccuracy, $"training accuracy {metrics.MicroAccuracy:F2} on text vs digit strings");
    }

    sealed class LabelledRow
    {
        public string Text { get; set; } = "";
        public string Label { get; set; } = "";
    }
}
