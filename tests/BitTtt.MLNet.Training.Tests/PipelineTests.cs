using System.Collections.Concurrent;
using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary>The README example end to end on a tiny configuration, trained once for the class.</summary>
[TestClass]
public sealed class PipelineTests
{
    static MLContext _ml = null!;
    static IDataView _data = null!;
    static ITransformer _model = null!;
    static readonly List<LoggingEventArgs> Log = [];

    static readonly string[] Prompts = ["Call me", "The whale", "It was", "Sub-Sub", "whale ship", "and the", "", "He"];

    [ClassInitialize]
    public static void Fit(TestContext _)
    {
        _ml = new MLContext(seed: 1);
        _ml.Log += (_, e) => { if (e.Source.StartsWith("BitLlama", StringComparison.Ordinal)) lock (Log) Log.Add(e); };
        _data = _ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        _model = TinyPipeline.Create(_ml).Fit(_data);
    }

    [TestMethod]
    public void Fit_TrainsTokenizerAndModel_AndLogsThroughMLContext()
    {
        var bitLlama = ((IEnumerable<ITransformer>)_model).OfType<BitLlamaTransformer>().Single();
        var tokenizer = ((IEnumerable<ITransformer>)_model).OfType<TokenizeForBitLlamaTransformer>().Single();
        Assert.AreEqual(TinyCorpus.VocabSize, tokenizer.Tokenizer.VocabSize);
        Assert.AreEqual(TinyCorpus.VocabSize, bitLlama.Config.VocabSize);
        Assert.AreEqual(16, bitLlama.Config.HiddenDim);
        Assert.AreEqual("Text", bitLlama.PromptColumnName);
        var training = bitLlama.Training!;
        Assert.AreEqual(16, training.Steps);
        Assert.IsTrue(training.Completed);
        Assert.IsTrue(double.IsFinite(training.TrainLoss));
        Assert.IsTrue(training.TrainTokens > 1000, $"train tokens {training.TrainTokens}");
        Assert.IsTrue(training.ValidationTokens > 0, "a quarter of the rows are held out (ValidationFraction)");
        Assert.IsTrue(training.ValidationLoss is > 0, $"validation loss {training.ValidationLoss}");
        Assert.IsTrue(training.UnigramValidationLoss is > 0, $"unigram {training.UnigramValidationLoss}");
        Assert.IsNotNull(training.Baselines);
        Assert.AreEqual(training.UnigramValidationLoss, training.Baselines.Unigram);
        Assert.IsTrue(training.Baselines.Trigram > 0 && training.Baselines.Bigram > 0, training.Baselines.ToString());
        lock (Log)
        {
            Assert.IsTrue(Log.Any(e => e.Source == "BitLlama; Fit" && e.Message.Contains("validation") && e.Message.Contains("the trigram (")),
                "the Fit log says which baselines the model beats");
            Assert.IsTrue(Log.Any(e => e.Source == "BitLlama; Fit" && e.Message.Contains("step 16/16")), string.Join("\n", Log.Select(e => e.Message)));
            Assert.IsTrue(Log.Any(e => e.Message.Contains("Training a byte-level BPE tokenizer")));
        }
    }

    [TestMethod]
    public void PredictionEngine_GivesACompletion_SameForTheSameSeed()
    {
        var engine = _ml.Model.CreatePredictionEngine<TextRow, Completion>(_model);
        string first = engine.Predict(new TextRow { Text = "Call me" }).Text;
        Assert.IsFalse(string.IsNullOrEmpty(first));
        Assert.AreEqual(first, engine.Predict(new TextRow { Text = "Call me" }).Text);
        var other = _ml.Model.CreatePredictionEngine<TextRow, Completion>(_model);
        Assert.AreEqual(first, other.Predict(new TextRow { Text = "Call me" }).Text);
        Assert.AreEqual("", engine.Predict(new TextRow { Text = "" }).Text, "an empty prompt has nothing to continue");
    }

    [TestMethod]
    public void SaveAsBitt_LoadBitt_GivesTheSameCompletions()
    {
        string path = TinyCorpus.NewPath("moby.bitt");
        _ml.Model.SaveAsBitt(_model, path);
        using var loaded = _ml.Model.LoadBitt(path);
        Assert.AreEqual("Text", loaded.PromptColumnName);
        var before = _ml.Model.CreatePredictionEngine<TextRow, Completion>(_model);
        var after = _ml.Model.CreatePredictionEngine<TextRow, Completion>(loaded);
        foreach (string prompt in Prompts)
            Assert.AreEqual(before.Predict(new TextRow { Text = prompt }).Text, after.Predict(new TextRow { Text = prompt }).Text, $"prompt '{prompt}'");
    }

    [TestMethod]
    public void Transform_OverManyRows_MatchesPredictionEngine_EvenWithParallelCursors()
    {
        var engine = _ml.Model.CreatePredictionEngine<TextRow, Completion>(_model);
        var rows = Enumerable.Range(0, 24).Select(i => new TextRow { Text = Prompts[i % Prompts.Length] + (i / Prompts.Length) }).ToArray();
        var expected = rows.Select(r => engine.Predict(r).Text).ToArray();

        string path = TinyCorpus.NewPath("prompts.txt");
        File.WriteAllLines(path, rows.Select(r => r.Text));
        var output = _model.Transform(_ml.Data.LoadFromTextFile<TextRow>(path));
        CollectionAssert.AreEqual(expected, output.GetColumn<string>("Completion").ToArray());

        var column = output.Schema["Completion"];
        var cursors = output.GetRowCursorSet([column, output.Schema["Text"]], 4);
        Assert.IsTrue(cursors.Length > 1, $"ML.NET gave {cursors.Length} cursor(s)");
        var seen = new ConcurrentDictionary<string, string>();
        Parallel.ForEach(cursors, cursor =>
        {
            using (cursor)
            {
                var text = cursor.GetGetter<ReadOnlyMemory<char>>(output.Schema["Text"]);
                var completion = cursor.GetGetter<ReadOnlyMemory<char>>(column);
                ReadOnlyMemory<char> t = default, c = default;
                while (cursor.MoveNext())
                {
                    text(ref t);
                    completion(ref c);
                    seen[t.ToString()] = c.ToString();
                }
            }
        });
        Assert.AreEqual(rows.Length, seen.Count);
        for (int i = 0; i < rows.Length; i++) Assert.AreEqual(expected[i], seen[rows[i].Text], rows[i].Text);
    }

    [TestMethod]
    public void Transform_IsLazy_GeneratingOnlyWhenCompletionIsRead()
    {
        using var model = _ml.Model.LoadBitt(SaveBitt());
        string path = TinyCorpus.NewPath("prompts.txt");
        File.WriteAllLines(path, Prompts.Where(p => p.Length > 0));
        var output = model.Transform(_ml.Data.LoadFromTextFile<TextRow>(path));
        Assert.AreEqual(0, model.CompletionsGenerated);
        Assert.AreEqual(Prompts.Length - 1, output.GetColumn<string>("Text").Count());
        Assert.AreEqual(0, model.CompletionsGenerated, "reading the prompt column generates nothing");
        Assert.AreEqual(Prompts.Length - 1, output.GetColumn<string>("Completion").Count());
        Assert.AreEqual(Prompts.Length - 1, model.CompletionsGenerated, "one generation per row read");
    }

    static string SaveBitt()
    {
        string path = TinyCorpus.NewPath("moby.bitt");
        _ml.Model.SaveAsBitt(_model, path);
        return path;
    }

    [TestMethod]
    public void ModelSave_RoundTripsThroughLoadWithBitLlama()
    {
        string path = TinyCorpus.NewPath("pipeline.zip");
        _ml.Model.Save(_model, _data.Schema, path);
        var loaded = _ml.Model.LoadWithBitLlama(path, out var schema);
        Assert.IsNotNull(schema.GetColumnOrNull("Text"));
        var before = _ml.Model.CreatePredictionEngine<TextRow, Completion>(_model);
        var after = _ml.Model.CreatePredictionEngine<TextRow, Completion>(loaded);
        foreach (string prompt in Prompts)
            Assert.AreEqual(before.Predict(new TextRow { Text = prompt }).Text, after.Predict(new TextRow { Text = prompt }).Text, $"prompt '{prompt}'");
        // The tokenizer came back too: the Tokens column is the same.
        var tokens = loaded.Transform(_ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "Call me Ishmael." } })).GetColumn<uint[]>("Tokens").Single();
        var original = _model.Transform(_ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "Call me Ishmael." } })).GetColumn<uint[]>("Tokens").Single();
        CollectionAssert.AreEqual(original, tokens);
    }

    [TestMethod]
    public void ModelSave_OfALoadedBitt_RoundTripsToo()
    {
        using var fromBitt = _ml.Model.LoadBitt(SaveBitt());
        string path = TinyCorpus.NewPath("model.zip");
        _ml.Model.Save(fromBitt, _data.Schema, path);
        var loaded = _ml.Model.LoadWithBitLlama(path);
        Assert.IsInstanceOfType<BitLlamaTransformer>(loaded);
        Assert.AreEqual(fromBitt.Generate("The whale"), ((BitLlamaTransformer)loaded).Generate("The whale"));
        Assert.AreEqual(fromBitt.Generate("The whale"), _ml.Model.CreateTextGenerator(loaded).Complete("The whale"));
    }

    [TestMethod]
    public void ModelLoad_WithoutLoadWithBitLlama_FailsNamingIt()
    {
        string path = TinyCorpus.NewPath("pipeline.zip");
        _ml.Model.Save(_model, _data.Schema, path);
        var ml = new MLContext(seed: 1);
        Exception? error = null;
        try
        {
            var loaded = ml.Model.Load(path, out _);
            var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(loaded);
            engine.Predict(new TextRow { Text = "Call me" });
        }
        catch (Exception e)
        {
            error = e;
        }
        Assert.IsNotNull(error, "a plain Model.Load must not produce completions");
        // Messages only: e.ToString() would also hold this test's own name, which contains the word.
        var messages = new List<string>();
        for (var e = error; e is not null; e = e.InnerException) messages.Add(e.Message);
        StringAssert.Contains(string.Join(" | ", messages), "LoadWithBitLlama");
    }

    [TestMethod]
    public void TextGenerator_CompletesStreamsAndKeepsSessions()
    {
        var generator = _ml.Model.CreateTextGenerator(_model);
        var engine = _ml.Model.CreatePredictionEngine<TextRow, Completion>(_model);
        string completion = generator.Complete("The whale");
        Assert.AreEqual(engine.Predict(new TextRow { Text = "The whale" }).Text, completion);
        var pieces = new List<string>();
        var stream = generator.CompleteStreamingAsync("The whale");
        var e = stream.GetAsyncEnumerator();
        while (e.MoveNextAsync().AsTask().GetAwaiter().GetResult()) pieces.Add(e.Current);
        e.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Assert.AreEqual(completion, string.Concat(pieces));
        using var session = generator.CreateSession();
        Assert.IsNotNull(session.Complete("The whale", generator.DefaultOptions with { MaxTokens = 4 }));
    }

    [TestMethod]
    public void PredictionEnginePool_IsThreadSafe()
    {
        var pool = _ml.Model.CreatePredictionEnginePool<TextRow, Completion>(_model);
        var engine = _ml.Model.CreatePredictionEngine<TextRow, Completion>(_model);
        var expected = Prompts.ToDictionary(p => p, p => engine.Predict(new TextRow { Text = p }).Text);
        int wrong = 0;
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            string prompt = Prompts[i % Prompts.Length];
            if (pool.Predict(new TextRow { Text = prompt }).Text != expected[prompt]) Interlocked.Increment(ref wrong);
        });
        Assert.AreEqual(0, wrong);
    }
}
